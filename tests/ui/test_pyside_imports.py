"""Imports after PySide6 do not read their module's source (ui/pyside_imports.py, issue 21 item 12), and
PySide6's feature table gets the same answer as its own check for modules that use PySide6 or do not."""

from __future__ import annotations

import inspect
import sys

import pytest

from dit360_desktop.ui import pyside_imports


@pytest.fixture
def feature(monkeypatch):
    module = sys.modules[pyside_imports.FEATURE_MODULE]
    monkeypatch.setattr(module, pyside_imports.CHECK, getattr(module, pyside_imports.CHECK))
    return module


def write_modules(tmp_path, monkeypatch, prefix: str) -> tuple[str, str]:
    (tmp_path / f"{prefix}_qt.py").write_text(
        "from PySide6.QtCore import QObject\n\nclass A(QObject):\n    pass\n"
    )
    (tmp_path / f"{prefix}_plain.py").write_text("import math\n\nVALUE = math.pi\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    return f"{prefix}_qt", f"{prefix}_plain"


def test_the_feature_table_gets_the_same_answers_without_reading_source(
    feature, tmp_path, monkeypatch
) -> None:
    # PySide6's own check first, on one pair of modules.
    own_qt, own_plain = write_modules(tmp_path, monkeypatch, "own")
    __import__(own_qt)  # through builtins.__import__, which PySide6 replaced
    __import__(own_plain)  # through builtins.__import__, which PySide6 replaced
    own = feature.pyside_feature_dict[own_qt], feature.pyside_feature_dict[own_plain]
    assert own == (0, -1)

    assert pyside_imports.skip_source_reads()
    reads: list[object] = []
    real_getsource = inspect.getsource
    monkeypatch.setattr(inspect, "getsource", lambda obj: reads.append(obj) or real_getsource(obj))
    new_qt, new_plain = write_modules(tmp_path, monkeypatch, "new")
    __import__(new_qt)  # through builtins.__import__, which PySide6 replaced
    __import__(new_plain)  # through builtins.__import__, which PySide6 replaced
    assert reads == []  # PySide6's check read each module's source; this one reads none
    assert (feature.pyside_feature_dict[new_qt], feature.pyside_feature_dict[new_plain]) == own
    for name in (own_qt, own_plain, new_qt, new_plain):
        sys.modules.pop(name, None)


def test_holds_pyside_looks_at_top_level_names_only() -> None:
    import types

    module = types.ModuleType("probe")
    assert not pyside_imports.holds_pyside(module)
    module.numbers = [1, 2]
    assert not pyside_imports.holds_pyside(module)
    from PySide6 import QtCore

    module.QtCore = QtCore
    assert pyside_imports.holds_pyside(module)
    del module.QtCore
    module.timer = QtCore.QTimer
    assert pyside_imports.holds_pyside(module)


def test_a_pyside6_without_the_check_is_left_alone(monkeypatch) -> None:
    monkeypatch.delitem(sys.modules, pyside_imports.FEATURE_MODULE)
    assert pyside_imports.skip_source_reads() is False


def test_holds_pyside_never_touches_the_objects_themselves() -> None:
    import types
    import warnings

    class Noisy:
        def __getattribute__(self, name):
            warnings.warn(f"touched: {name}", FutureWarning, stacklevel=2)
            return object.__getattribute__(self, name)

    module = types.ModuleType("probe")
    module.noisy = Noisy()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not pyside_imports.holds_pyside(module)
