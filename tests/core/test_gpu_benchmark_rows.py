"""The GPU benchmark's rows (e2e, step caches, deviation, caps, extra LoRAs) at tiny size on the CPU."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest


@pytest.fixture
def bench(monkeypatch):
    script = Path(__file__).parents[1] / "benchmarks" / "gpu_tiers.py"
    spec = importlib.util.spec_from_file_location("gpu_tiers", script)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "gpu_tiers", module)  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_rows_carry_e2e_time_deviation_memory_and_cap_fields(bench, tmp_path, tiny_flux_dir):
    out = tmp_path / "rows.json"
    variants = "published,full-fastest,full-fp8,full-fused-extra-lora,24gb-cap23"
    argv = ["--cpu-small", "--tiny", "--steps", "1", "--e2e-steps", "6", "--variants", variants]
    report = bench.main([*argv, "--json", str(out), "--tokenizers", str(tiny_flux_dir)])
    assert json.loads(out.read_text())["rows"] == json.loads(json.dumps(report["rows"], default=str))
    rows = {row["variant"]: row for row in report["rows"]}
    assert set(rows) == {
        "published", "full-fastest", "full-fastest+magcache", "full-fastest+taylorseer",
        "full-fp8", "full-fused-extra-lora", "24gb-cap23",
    }  # fmt: skip
    assert rows["full-fp8"]["error"].startswith("UnsupportedBackendError: --fp8-compute needs")
    for name in ("published", "full-fastest"):
        row = rows[name]
        assert row["e2e_steps"] == 6 and row["e2e_s"] > 0 and row["exact"] is True
        assert row["peak_allocated_gib"] is None and row["peak_reserved_gib"] is None  # CPU: no CUDA stats
    assert "[CPU check" in rows["full-fastest"]["label"]
    taylor = rows["full-fastest+taylorseer"]
    assert taylor["exact"] is False and taylor["deviation_from"] == "full-fastest"
    assert 0 < taylor["rel_l2_latent"] < 0.1 and taylor["s_per_step"] > 0
    assert taylor["ratio_to_baseline"] == taylor["s_per_step"] / rows["full-fastest"]["s_per_step"]
    assert (
        rows["full-fused-extra-lora"]["exact"] is False
        and rows["full-fused-extra-lora"]["baseline"] == "full-fused"
    )
    assert rows["24gb-cap23"]["cap_gib"] is None, "caps apply to CUDA only"
    assert rows["published"]["e2e_speedup_vs_published"] == 1.0
