"""argparse types for every number and size the commands take, checked when the options are parsed.

One rule for all of them: the text must be a finite number (``nan``, ``inf``, ``1e999`` are refused), in
the option's range (``panorama/limits.py``, the same limits the app's fields use), whole where it counts
pixels or steps, and a multiple of 16 where the model needs whole patches. A refusal is argparse's own:
``dit360 place: error: argument --pitch: must be between -90 and 90° (got '91')``, exit 2, and it quotes
what the person typed, never a value derived from it.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable

from dit360_desktop.panorama.limits import LIMITS, Limit, parameter_limit

__all__ = ["limited", "number", "parameter", "size_pair"]

_SIZE = re.compile(r"\s*(\d+)\s*[xX×]\s*(\d+)\s*")


def number(limit: Limit) -> Callable[[str], float | int]:
    """An argparse ``type`` that parses and checks one number against ``limit``."""

    def parse(text: str) -> float | int:
        try:
            value = float(text.strip())
        except ValueError:
            kind = "a whole number" if limit.integer else "a number"
            raise argparse.ArgumentTypeError(f"expected {kind}, got {text!r}") from None
        problem = limit.problem(value)
        if problem is not None:
            raise argparse.ArgumentTypeError(f"{problem} (got {text!r})")
        return int(value) if limit.integer else value

    # argparse names the type in its fallback message; keep that readable.
    parse.__name__ = "integer" if limit.integer else "number"
    return parse


def limited(name: str) -> Callable[[str], float | int]:
    """The type for ``LIMITS[name]``."""
    return number(LIMITS[name])


def parameter(name: str) -> Callable[[str], float | int]:
    """The type for a request field (``request.PARAMETERS``), so a bad value never reaches the request."""
    return number(parameter_limit(name))


def size_pair(limit: Limit) -> Callable[[str], tuple[int, int]]:
    """``WIDTHxHEIGHT``, each side checked against ``limit``."""

    def parse(text: str) -> tuple[int, int]:
        match = _SIZE.fullmatch(text)
        if not match:
            raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT such as 1920x1080, got {text!r}")
        sides = int(match.group(1)), int(match.group(2))
        for side in sides:
            problem = limit.problem(side)
            if problem is not None:
                raise argparse.ArgumentTypeError(f"each side {problem} (got {text!r})")
        return sides

    parse.__name__ = "size"
    return parse
