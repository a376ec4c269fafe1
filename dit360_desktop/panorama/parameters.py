"""The A1111 "parameters" text: how generators record settings, read by Civitai, Forge and others.

Layout (as written by AUTOMATIC1111's web UI and Forge):

    <prompt, possibly several lines>
    Negative prompt: <negative prompt, possibly several lines>
    Steps: 28, Sampler: Euler, CFG scale: 1.0, Distilled CFG Scale: 2.8, Seed: 42, Size: 2048x1024, Model: ...

Extra LoRAs are written into the prompt line as ``<lora:name:scale>`` (A1111's extra-network syntax, which
Civitai reads); the parser reports them as "loras" and, as A1111 does, leaves them in the prompt. The
last line is a comma-separated ``Key: value`` list. Values containing a comma, colon, quote or newline
are written as JSON strings. For FLUX, Forge writes the distilled guidance as "Distilled CFG Scale" and keeps
"CFG scale" for real classifier-free guidance; we do the same (true_cfg_scale → CFG scale).
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["format_a1111_parameters", "parse_a1111_parameters"]

NEGATIVE_PREFIX = "Negative prompt:"
# One "Key: value" pair. A key starts with a letter; a value is a JSON string or runs to the next comma.
_PAIR = re.compile(r'\s*([A-Za-z][\w \-/().]*?)\s*:\s*("(?:\\.|[^"\\])*"|[^,]*)\s*(?:,|$)')
_LORA_TAG = re.compile(r"\s*<lora:([^<>]+):([-+0-9.eE]+)>")
_SIZE = re.compile(r"^\s*(\d+)\s*[xX×]\s*(\d+)\s*$")
# A line is the parameter line only if it holds at least this many pairs (A1111 uses the same rule).
_MIN_PAIRS = 3

# Known keys → (our name, converter). Everything else is kept verbatim under "extra".
_KNOWN: dict[str, tuple[str, Any]] = {
    "steps": ("steps", int),
    "sampler": ("sampler", str),
    "schedule type": ("schedule", str),
    "cfg scale": ("cfg_scale", float),
    "distilled cfg scale": ("guidance", float),
    "guidance": ("guidance", float),
    "seed": ("seed", int),
    "model": ("model", str),
    "model hash": ("model_hash", str),
    "denoising strength": ("denoising_strength", float),
    "lora scale": ("lora_scale", float),
    "lora hashes": ("lora_hashes", str),
    "fit": ("fit", str),
    "edit method": ("edit_method", str),
    "tau": ("tau", float),
    "feather": ("feather", int),
    "source prompt": ("source_prompt", str),
    "step cache": ("step_cache", str),
    "version": ("version", str),
}


def _quote(value: Any) -> str:
    text = str(value)
    if any(ch in text for ch in ',:"\n'):
        return json.dumps(text, ensure_ascii=False)
    return text


def _on_off(value: Any) -> str:
    return "on" if value else "off"


def format_a1111_parameters(metadata: dict[str, Any]) -> str:
    """Build the A1111 text from our metadata dict ("request", "seed", "models", "versions")."""
    request: dict[str, Any] = metadata.get("request") or {}
    prompt = str(request.get("prompt", ""))
    extras = _extra_loras(metadata)
    tags = "".join(f" <lora:{name}:{scale:g}>" for name, scale, _ in extras)
    lines = [prompt + tags]
    negative = str(request.get("negative_prompt") or "")
    if negative.strip():
        lines.append(f"{NEGATIVE_PREFIX} {negative}")
    seed = metadata.get("seed", request.get("seed"))
    pairs: list[tuple[str, Any]] = [
        ("Steps", request.get("steps")),
        # FLUX's sampler is flow-matching Euler, which is what A1111 tools call "Euler".
        ("Sampler", "Euler"),
        ("CFG scale", request.get("true_cfg_scale")),
        ("Distilled CFG Scale", request.get("guidance")),
        ("Seed", seed),
    ]
    if request.get("width") is not None and request.get("height") is not None:
        pairs.append(("Size", f"{request['width']}x{request['height']}"))
    models: dict[str, Any] = metadata.get("models") or {}
    base = models.get("base") or {}
    if isinstance(base, dict):
        if base.get("sha256"):
            # A1111's "Model hash" is the first 10 hex digits of the file's sha256.
            pairs.append(("Model hash", str(base["sha256"])[:10]))
        pairs.append(("Model", base.get("name")))
    lora = models.get("lora")
    hashes = [(name, sha) for name, _, sha in extras if sha]
    if isinstance(lora, dict):
        name = lora.get("name") or "lora"
        if lora.get("sha256"):
            hashes.insert(0, (name, lora["sha256"]))
    if hashes:
        pairs.append(("Lora hashes", ", ".join(f"{name}: {str(sha)[:12]}" for name, sha in hashes)))
    if isinstance(lora, dict):
        pairs.append(("LoRA", name))
        pairs.append(("LoRA scale", lora.get("scale", request.get("lora_scale"))))
    if request.get("init_image"):
        pairs.append(("Denoising strength", request.get("strength")))
        pairs.append(("Fit", request.get("fit")))
    if request.get("mask_image"):
        method = request.get("edit_method", "blend")
        pairs.append(("Edit method", method))
        if method == "reference":
            pairs.append(("Tau", request.get("tau")))
            pairs.append(("Source prompt", request.get("source_prompt") or None))
        else:
            pairs.append(("Feather", request.get("feather")))
    if "seamless_decode" in request:
        pairs.append(("Seamless decode", _on_off(request["seamless_decode"])))
    if request.get("rewrap_each_step"):
        pairs.append(("Re-wrap each step", "on"))
    if request.get("step_cache") not in (None, "off"):
        pairs.append(("Step cache", request["step_cache"]))
    versions = metadata.get("versions") or {}
    if isinstance(versions, dict) and versions.get("app"):
        pairs.append(("Version", f"dit360-desktop {versions['app']}"))
    lines.append(", ".join(f"{key}: {_quote(value)}" for key, value in pairs if value is not None))
    return "\n".join(lines)


def _extra_loras(metadata: dict[str, Any]) -> list[tuple[str, float, str | None]]:
    """(A1111 name, scale, sha256) of each extra LoRA: the loaded files' record, else the request's paths."""
    models = metadata.get("models") or {}
    loaded = models.get("extra_loras") if isinstance(models, dict) else None
    if isinstance(loaded, list) and loaded:
        items = [(str(x.get("name") or "lora"), x.get("scale"), x.get("sha256")) for x in loaded]
    else:
        request = metadata.get("request") or {}
        items = []
        for item in request.get("extra_loras") or ():
            path, scale = (item.get("path"), item.get("scale")) if isinstance(item, dict) else item
            items.append((re.split(r"[\\/]", str(path).rstrip("/\\"))[-1], scale, None))
    # A1111 names a LoRA by its file name without the extension.
    return [
        (name.removesuffix(".safetensors"), float(scale), sha)
        for name, scale, sha in items
        if isinstance(scale, int | float)
    ]


def _convert(convert: Any, value: str) -> Any:
    try:
        return convert(value)
    except ValueError:
        return None


def _split_pairs(line: str) -> list[tuple[str, str]]:
    pairs = []
    position = 0
    while position < len(line):
        match = _PAIR.match(line, position)
        if match is None or match.end() == position:
            break
        pairs.append((match.group(1), match.group(2).strip()))
        position = match.end()
    return pairs


def parse_a1111_parameters(text: str) -> dict[str, Any]:
    """Parse A1111-style text from us or another tool.

    Returns "prompt" and "negative_prompt" (always, possibly empty) plus whichever of these were present:
    steps, sampler, schedule, cfg_scale, guidance, seed, width, height, model, model_hash,
    denoising_strength, lora_scale, lora_hashes, fit, edit_method, tau, feather, source_prompt, step_cache,
    version;
    "loras": [(name, scale), ...] from the prompt's ``<lora:name:scale>`` tags (kept in the prompt);
    other keys go to "extra" as strings.
    A value that does not convert (e.g. "Seed: abc") is kept in "extra" rather than guessed.
    """
    lines = text.replace("\r\n", "\n").strip("\n").split("\n")
    pairs: list[tuple[str, str]] = []
    if lines and len(_split_pairs(lines[-1])) >= _MIN_PAIRS:
        pairs = _split_pairs(lines.pop())
    prompt_lines: list[str] = []
    negative_lines: list[str] = []
    in_negative = False
    for line in lines:
        if line.startswith(NEGATIVE_PREFIX):
            in_negative = True
            line = line[len(NEGATIVE_PREFIX) :].lstrip()
        (negative_lines if in_negative else prompt_lines).append(line)
    prompt = "\n".join(prompt_lines).strip()
    result: dict[str, Any] = {
        "prompt": prompt,
        "negative_prompt": "\n".join(negative_lines).strip(),
    }
    loras = [
        (name, float(scale))
        for name, scale in _LORA_TAG.findall(prompt)
        if _convert(float, scale) is not None
    ]
    if loras:
        result["loras"] = loras
    extra: dict[str, str] = {}
    for key, raw in pairs:
        value = raw
        if len(raw) >= 2 and raw.startswith('"') and raw.endswith('"'):
            try:
                value = json.loads(raw)
            except json.JSONDecodeError:
                value = raw[1:-1]
        lowered = key.strip().lower()
        if lowered == "size" and (size := _SIZE.match(value)):
            result["width"], result["height"] = int(size.group(1)), int(size.group(2))
            continue
        if lowered in _KNOWN:
            name, convert = _KNOWN[lowered]
            converted = _convert(convert, value)
            if converted is not None:
                result[name] = converted
                continue
        extra[key.strip()] = value
    if extra:
        result["extra"] = extra
    return result
