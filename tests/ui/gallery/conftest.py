"""The gallery tests build libraries with the history tests' factory (tests/history/history_factory.py)."""

from __future__ import annotations

import sys
from pathlib import Path

# pytest runs with --import-mode=importlib, which puts no test folder on sys.path: without this line the
# gallery tests only import when tests/history's conftest happened to be collected first.
HISTORY_TESTS = str(Path(__file__).resolve().parents[2] / "history")
if HISTORY_TESTS not in sys.path:
    sys.path.insert(0, HISTORY_TESTS)
