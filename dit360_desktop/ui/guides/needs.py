"""Which model each guide needs, in words, and the model manager opened on it when it is missing.

Redux and Depth Anything are catalog components (``resources/catalog.json``: ``flux1-redux-dev``,
``depth-anything-v2-small``), so the row offers the model manager on that component, as the first-run
banner does (``EngineSetup.open_model_manager``). The Control LoRAs are files the user chooses (Black Forest
Labs publishes them beside FLUX.1-dev), so their row only says which file fits.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dit360_desktop.ui.guides.widgets import NeedRow

log = logging.getLogger(__name__)

REDUX_COMPONENT = "flux1-redux-dev"
DEPTH_COMPONENT = "depth-anything-v2-small"


@dataclass(frozen=True)
class Need:
    row: NeedRow
    model: str  # the model in the user's words
    component: str | None  # the catalog component, when the model manager can install it
    find: Callable[[], Path | None]  # where it is, None when missing


def installed_redux() -> Path | None:
    from dit360_desktop.models.redux import installed_redux_model
    from dit360_desktop.panorama.errors import ModelMissingError

    try:
        return installed_redux_model()
    except ModelMissingError:
        return None


def installed_depth() -> Path | None:
    from dit360_desktop.models.depth import installed_depth_model
    from dit360_desktop.panorama.errors import ModelMissingError

    try:
        return installed_depth_model()
    except ModelMissingError:
        return None


class ModelNeeds:
    """Keeps the rows true: on ``refresh`` (the panel built, the model manager closed, a field changed)."""

    def __init__(self, open_model_manager: Callable[[str], None]) -> None:
        self._open = open_model_manager
        self.needs: list[Need] = []

    def add(self, need: Need) -> None:
        self.needs.append(need)
        if need.component is not None:
            need.row.button.clicked.connect(lambda: self.open_manager(need.component))
        self.refresh_one(need)

    def open_manager(self, component: str) -> None:
        self._open(component)
        self.refresh()

    def refresh(self) -> None:
        for need in self.needs:
            self.refresh_one(need)

    def refresh_one(self, need: Need) -> None:
        try:
            place = need.find()
        except Exception as e:  # a broken registry must not break the panel; say it is missing
            log.warning("Could not look for %s: %s", need.model, e)
            place = None
        if place is not None:
            need.row.show_state(f"{need.model}: installed ({place.name}).", None)
        elif need.component is not None:
            need.row.show_state(f"{need.model}: not installed.", need.component)
        else:
            need.row.show_state(f"{need.model}: none chosen.", None)
