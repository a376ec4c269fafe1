"""The GPU benchmark's ratios, progress lines and Markdown table (``gpu_tiers.py``)."""

from __future__ import annotations

import sys

# 2048×1024 with DiT360 padding: 64×130 = 8320 image tokens + 512 text tokens per step ≈ 168.7 TFLOP;
# an H100 SXM gives ~790 dense bf16 TFLOP/s, so no bf16 implementation can beat 0.214 s per step.
FLOOR_S_PER_STEP = 0.214


def add_ratios(report: dict) -> None:
    rows = report["rows"]
    by_name = {r["variant"]: r for r in rows if "error" not in r and "s_per_step" in r}
    published = by_name.get("published")
    e2e_published = next((r for r in rows if r.get("variant") == "published" and "e2e_s" in r), None)
    for row in rows:
        if "error" in row:
            continue
        if "s_per_step" in row:
            row["ratio_to_floor"] = row["s_per_step"] / FLOOR_S_PER_STEP
            if published is not None:
                row["ratio_to_published"] = row["s_per_step"] / published["s_per_step"]
            baseline = by_name.get(row["baseline"])
            if baseline is not None:
                row["ratio_to_baseline"] = row["s_per_step"] / baseline["s_per_step"]
        if "e2e_s" in row and e2e_published is not None and row["e2e_steps"] == e2e_published["e2e_steps"]:
            row["e2e_speedup_vs_published"] = e2e_published["e2e_s"] / row["e2e_s"]


def print_row(row: dict) -> None:
    if "error" in row:
        sys.stdout.write(f"{row['variant']}: FAILED {row['error'][:300]}\n")
        sys.stdout.flush()
        return
    peak, reserved = row["peak_allocated_gib"], row["peak_reserved_gib"]
    memory = "n/a" if peak is None else f"{peak:.1f} allocated / {reserved:.1f} reserved GiB"
    cap = "" if row["cap_gib"] is None else f" (cap {row['cap_gib']} GiB)"
    load = f", load {row['load_s']:.1f} s" if "load_s" in row else ""
    e2e = f", e2e {row['e2e_s']:.2f} s ({row['e2e_steps']} steps)" if "e2e_s" in row else ""
    deviation = ""
    if "rel_l2_latent" in row:
        psnr = row["psnr_db"]
        deviation = f", vs {row['deviation_from']}: rel L2 {row['rel_l2_latent']:.4f}, PSNR " + (
            "identical" if psnr is None else f"{psnr:.1f} dB"
        )
    sys.stdout.write(
        f"{row['variant']}: {row['s_per_step']:.3f} s/step, peak {memory}{cap}{load}{e2e}{deviation}\n"
    )
    sys.stdout.flush()


def print_table(report: dict) -> None:
    out = sys.stdout
    out.write(f"\n{report['device']} — {report['size']} FLUX.1-dev, {report['width']}×{report['height']}\n")
    out.write("| variant | s/step | ×published | ×floor | peak alloc / reserved GiB | cap | e2e s | exact |")
    out.write(" rel L2 | PSNR dB |\n|---|---|---|---|---|---|---|---|---|---|\n")
    for row in report["rows"]:
        if "error" in row:
            out.write(f"| {row['variant']} | {row['error'][:60]} | | | | | | | | |\n")
            continue
        peak = row.get("peak_allocated_gib")
        memory = "n/a" if peak is None else f"{peak:.1f} / {row['peak_reserved_gib']:.1f}"
        cells = [
            row["variant"],
            _fmt(row.get("s_per_step"), 3),
            _fmt(row.get("ratio_to_published")),
            _fmt(row.get("ratio_to_floor")),
            memory,
            "" if row.get("cap_gib") is None else f"{row['cap_gib']:g}",
            _fmt(row.get("e2e_s")),
            str(row.get("exact", "")),
            _fmt(row.get("rel_l2_latent"), 4),
            _fmt(row.get("psnr_db"), 1),
        ]
        out.write("| " + " | ".join(cells) + " |\n")


def _fmt(value, digits: int = 2) -> str:
    return "" if value is None else f"{value:.{digits}f}"
