"""Fork writers into a save loop and SIGKILL each one at a random moment; print what the kills left behind.

Run by tests/history/test_crash_safety.py. Forking from this fresh single-threaded process (rather than from
pytest, which may hold Qt or other threads) makes each writer start in milliseconds with everything imported.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from history_factory import make_result

from dit360_desktop.history import files
from dit360_desktop.history.library import DB_NAME, Library


def _writer(folder: Path, generation: int) -> None:
    library = Library.open(folder)
    i = 0
    while True:
        library.save(make_result(f"Kill loop writer {generation} save {i}", seed=generation * 1000 + i))
        i += 1


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
    orphan_kills = partial_kills = 0
    for generation in range(kills):
        pid = os.fork()
        if pid == 0:
            try:
                _writer(folder, generation)
            finally:
                os._exit(1)
        time.sleep(rng.uniform(0.0, max_delay))
        os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        if not (os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL):
            print(json.dumps({"error": f"writer {generation} ended by itself (status {status})"}))
            return 1
        orphans, partials = _leftovers(folder)
        orphan_kills += orphans > 0
        partial_kills += partials > 0
    print(json.dumps({"kills": kills, "orphan_kills": orphan_kills, "partial_kills": partial_kills}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
