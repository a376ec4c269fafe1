"""Re-using parameters never adds a size to the list twice."""

from __future__ import annotations

from dit360_desktop.ui.common.form import GenerationForm
from dit360_desktop.ui.generation.params_panel import SIZE_PRESETS, ParamsPanel


def test_no_duplicate_sizes_after_reuse(qtbot) -> None:
    form = GenerationForm()
    panel = ParamsPanel(form)
    qtbot.addWidget(panel)
    assert panel.size_combo.count() == len(SIZE_PRESETS)
    for _ in range(3):
        form.recall({"width": 1024, "height": 512})
        form.recall({"width": 1280, "height": 640})
    texts = [panel.size_combo.itemText(i) for i in range(panel.size_combo.count())]
    assert len(texts) == len(set(texts)) == len(SIZE_PRESETS) + 1
    assert texts[-1] == "1280 × 640  (custom · not trained)"
    assert panel.size_combo.currentText() == texts[-1]
