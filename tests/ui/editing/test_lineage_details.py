"""The gallery's details pane shows an edit's lineage: its parent entry and its mask."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).parents[2] / "history"))

from history_factory import make_result

from dit360_desktop.history.library import Library
from dit360_desktop.ui.gallery.details import details_html, lineage_rows


def test_details_show_the_parent_and_the_mask(tmp_path):
    mask = tmp_path / "m.png"
    Image.fromarray(np.full((32, 64), 255, np.uint8)).save(mask)
    with Library.open(tmp_path / "library", trash=lambda p: p.unlink()) as library:
        parent = library.save(make_result(seed=1))
        base = make_result("This is a panorama image. With a boat", seed=2)
        request = base.request.replace(init_image=str(parent.path), mask_image=str(mask), edit_method="blend")
        edit = library.save(dataclasses.replace(base, request=request))  # the request is the one copy
        rows = dict(lineage_rows(edit))
        assert rows["Edit of"] == f"entry #{parent.id} ({parent.path.name})"
        assert rows["Mask"] == str(edit.mask_path) and rows["Edit method"] == "blend"
        assert "Edit of" in details_html(edit)
        assert lineage_rows(parent) == []
        library.delete(parent.id)
        orphan = library.get(edit.id)
        assert dict(lineage_rows(orphan))["Edit of"] == f"{parent.path.name} (no longer in the library)"
