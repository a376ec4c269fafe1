"""The optional features: what each needs installed, and whether this installation has it.

One table for the app (which shows a feature only when it is installed and checks it before anything is
queued), the self-test and the bundle build (``packaging/bundle_config.py`` bundles a feature's modules
when the build environment has them, and ``build.py --require-features`` refuses a build without them),
so a double-click bundle shows exactly the features it ships. Modules are looked up, not imported: the
check costs no start-up time.
"""

from __future__ import annotations

import importlib.util
import logging
from dataclasses import dataclass

from dit360_desktop.panorama.errors import DiT360Error

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OptionalFeature:
    key: str
    # What the person sees, as the subject of a sentence: "Upscaling is not included …".
    name: str
    modules: tuple[str, ...]
    # The pip extra that brings the modules, for the log of a source install (never shown in the app).
    extra: str


FEATURES: dict[str, OptionalFeature] = {
    "upscale": OptionalFeature("upscale", "Upscaling", ("spandrel", "torchvision"), "upscale"),
    "exr": OptionalFeature("exr", "OpenEXR export", ("OpenEXR",), "openexr"),
}
FEATURE_MODULES: dict[str, tuple[str, ...]] = {key: f.modules for key, f in FEATURES.items()}


class FeatureUnavailableError(DiT360Error):
    """An optional feature whose libraries this installation does not have."""

    exit_code = 3


def missing_modules(key: str) -> list[str]:
    return [m for m in FEATURES[key].modules if importlib.util.find_spec(m) is None]


def is_available(key: str) -> bool:
    return not missing_modules(key)


def unavailable_message(key: str) -> str:
    feature = FEATURES[key]
    return (
        f"{feature.name} is not included in this installation of DiT360 Desktop, so it cannot be used "
        "here. Everything else works as usual."
    )


def require(key: str) -> None:
    """Raise ``FeatureUnavailableError`` (in the person's words) unless the feature is installed."""
    missing = missing_modules(key)
    if missing:
        feature = FEATURES[key]
        log.info("%s needs %s (pip extra %r)", feature.name, ", ".join(missing), feature.extra)
        raise FeatureUnavailableError(unavailable_message(key))
