"""Fork writers into a save loop and SIGKILL each one at a random moment; print what the kills left behind.

Run by tests/history/test_crash_safety.py. Forking from this fresh single-threaded process (rather than from
pytest, which may hold Qt or other threads) makes each writer start in milliseconds with everything imported.

Each writer reports through a pipe when its library is open ("o") and after every completed save ("s"). Most
kills are timed from the open rather than from the fork: on a loaded machine opening (which adopts the
orphans earlier kills left) can outlast any fixed delay, and the kills would then never reach a save. Every
tenth writer is killed only after a completed save, so the run always has saves whose rows must survive.
"""

from __future__ import annotations

import json
import os
import random
import select
import signal
import sqlite3
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from history_factory import make_result

from dit360_desktop.history import files
from dit360_desktop.history.library import DB_NAME, Library

# A writer that has not reported within this long is stuck, not slow.
_REPORT_TIMEOUT_S = 120.0


def _writer(folder: Path, generation: int, report: int) -> None:
    library = Library.open(folder)
    os.write(report, b"o")
    i = 0
    while True:
        library.save(make_result(f"Kill loop writer {generation} save {i}", seed=generation * 1000 + i))
        os.write(report, b"s")
        i += 1


def _wait_for(reports: int, wanted: bytes) -> bytes:
    """Read the writer's reports up to and including ``wanted``; returns what was read."""
    seen = b""
    while not seen.endswith(wanted):
        ready, _, _ = select.select([reports], [], [], _REPORT_TIMEOUT_S)
        chunk = os.read(reports, 1) if ready else b""
        if not chunk:
            raise RuntimeError(f"the writer never reported {wanted!r} (it said {seen!r})")
        seen += chunk
    return seen


def _read_to_end(reports: int) -> bytes:
    seen = b""
    while chunk := os.read(reports, 4096):
        seen += chunk
    return seen


def _leftovers(folder: Path) -> tuple[int, int]:
    """(orphan images without a row, unfinished temp files) right after a kill."""
    on_disk = set(files.list_images(folder))
    partials = sum(1 for _ in folder.rglob(f"{files.PARTIAL_PREFIX}*"))
    db = folder / DB_NAME
    if not db.exists():
        return len(on_disk), partials
    conn = sqlite3.connect(db, timeout=30)
    try:
        rows = {row[0] for row in conn.execute("SELECT file FROM entries")}
    except sqlite3.OperationalError:
        rows = set()  # killed before the schema was created
    finally:
        conn.close()
    return len(on_disk - rows), partials


def main() -> int:
    folder, kills, seed = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    max_delay = float(sys.argv[4]) if len(sys.argv) > 4 else 0.12
    rng = random.Random(seed)
    orphan_kills = partial_kills = saves = 0
    for generation in range(kills):
        reports, report = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                os.close(reports)
                _writer(folder, generation, report)
            finally:
                os._exit(1)
        os.close(report)
        seen = b""
        try:
            # One writer in four is timed from the fork, so some kills land while a library opens.
            if generation % 4 != 3:
                seen += _wait_for(reports, b"o")
            if generation % 10 == 0:
                seen += _wait_for(reports, b"s")
            time.sleep(rng.uniform(0.0, max_delay))
        finally:
            os.kill(pid, signal.SIGKILL)
            _, status = os.waitpid(pid, 0)
            seen += _read_to_end(reports)
            os.close(reports)
        saves += seen.count(b"s")
        if not (os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL):
            print(json.dumps({"error": f"writer {generation} ended by itself (status {status})"}))
            return 1
        orphans, partials = _leftovers(folder)
        orphan_kills += orphans > 0
        partial_kills += partials > 0
    print(
        json.dumps(
            {"kills": kills, "orphan_kills": orphan_kills, "partial_kills": partial_kills, "saves": saves}
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
