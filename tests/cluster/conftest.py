"""Helpers of the cluster tests (``fake_heads``) importable by name, as in tests/history."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
