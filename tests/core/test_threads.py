"""Issue 21, item 15: nothing set torch's thread count, and on two cores the UI lost its core to the
second compute thread. The app now computes with one core fewer than it may use; the command line
with them all (``tests/benchmarks/compute_threads.py`` measures why)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from dit360_desktop.core.threads import compute_threads, usable_cores

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("usable", "physical", "app", "cli"),
    [(1, 1, 1, 1), (2, 2, 1, 2), (2, 1, 1, 1), (4, 4, 3, 4), (16, 8, 8, 8), (8, None, 7, 8)],
)
def test_the_rule(usable: int, physical: int | None, app: int, cli: int) -> None:
    assert compute_threads(usable, physical, keep_a_core_for_the_ui=True) == app
    assert compute_threads(usable, physical, keep_a_core_for_the_ui=False) == cli


PROBE = """
import sys, torch
from dit360_desktop.core import threads
if sys.argv[1] == "app":
    import dit360_desktop.core.engine as engine_module
    from dit360_desktop.ui.generation import worker
    seen = []
    engine_module.PanoramaEngine = lambda *a, **k: seen.append(torch.get_num_threads())
    worker.resolve_base_model = lambda path: path
    import dit360_desktop.models.selection as selection
    selection.resolve_base_model = lambda path: path
    worker.default_engine_factory(None, None)
    print(seen[0])
else:
    from dit360_desktop.core.engine import PanoramaEngine
    PanoramaEngine(None)
    print(torch.get_num_threads())
"""


def run_probe(mode: str, **env: str) -> int:
    import os

    environment = {**os.environ, "PYTHONPATH": str(REPO), **env}
    environment.pop("OMP_NUM_THREADS", None)
    out = subprocess.run(
        [sys.executable, "-c", PROBE, mode], capture_output=True, text=True, env=environment, timeout=300
    )
    assert out.returncode == 0, out.stderr
    return int(out.stdout.strip().splitlines()[-1])


def test_the_app_keeps_a_core_and_the_command_line_uses_them_all() -> None:
    from dit360_desktop.core.threads import physical_cores

    usable = usable_cores()
    assert run_probe("app") == compute_threads(usable, physical_cores(), keep_a_core_for_the_ui=True)
    assert run_probe("cli") == compute_threads(usable, physical_cores(), keep_a_core_for_the_ui=False)
    assert run_probe("app", DIT360_THREADS="3") == 3
