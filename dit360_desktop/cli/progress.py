"""A one-line progress bar on stderr for engine events."""

from __future__ import annotations

import sys
from typing import TextIO

from dit360_desktop.panorama.events import EngineEvent, StageEvent, StepEvent


def _clock(seconds: float) -> str:
    seconds = max(0, round(seconds))
    return f"{seconds // 60:d}:{seconds % 60:02d}"


class ProgressPrinter:
    def __init__(self, stream: TextIO | None = None, *, quiet: bool = False, width: int = 30) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.quiet = quiet
        self.width = width
        self._interactive = hasattr(stream, "isatty") and stream.isatty()

    def __call__(self, event: EngineEvent) -> None:
        if self.quiet:
            return
        if isinstance(event, StageEvent):
            self._line(f"[{event.stage.value}] {event.message}", final=True)
        elif isinstance(event, StepEvent):
            filled = int(self.width * event.fraction)
            bar = "#" * filled + "-" * (self.width - filled)
            text = (
                f"[denoising] |{bar}| step {event.step}/{event.total} "
                f"elapsed {_clock(event.elapsed_s)} ETA {_clock(event.eta_s)}"
            )
            self._line(text, final=event.step == event.total or not self._interactive)

    def _line(self, text: str, *, final: bool) -> None:
        if self._interactive:
            self.stream.write("\r\033[K" + text + ("\n" if final else ""))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()
