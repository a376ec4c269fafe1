"""The batch driver in a process of its own, for the app.

Joining a cluster holds the GIL for most of a second (``ray.init`` measured 0.76 s in one stretch on the
test machine), which a thread of the app would turn into a frozen window; Ray also installs handlers and
hooks a GUI process is better without. So the app starts this process (``multiprocessing`` spawn), sends
it the jobs, and reads plain messages back over a pipe:

- ``("event", DriverEvent)`` for each event of the driver (results are saved here, into the same library
  folder, before their ``JobSaved`` leaves);
- ``("finished", BatchSummary)`` or ``("failed", message)`` once, at the end.

The app sends ``"cancel"`` to stop the run; a closed pipe (the app went away) cancels it too.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

log = logging.getLogger(__name__)

CANCEL = "cancel"


def run_driver(conn: Any, jobs: list, options: Any, library_dir: str) -> None:
    """Process entry point: run ``jobs`` and report over ``conn`` (a multiprocessing Connection)."""
    from dit360_desktop.cluster.driver import BatchDriver
    from dit360_desktop.history.library import Library
    from dit360_desktop.panorama.errors import DiT360Error

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        library = Library.open(library_dir)
    except DiT360Error as e:
        conn.send(("failed", str(e)))
        return
    try:
        driver = BatchDriver(options, library, on_event=lambda event: conn.send(("event", event)))
        threading.Thread(target=_listen, args=(conn, driver), name="dit360-cancel", daemon=True).start()
        summary = driver.run(jobs)
    except DiT360Error as e:
        conn.send(("failed", str(e)))
        return
    except Exception as e:
        log.exception("The cluster run failed")
        conn.send(("failed", f"The cluster run failed: {type(e).__name__}: {e}"))
        return
    finally:
        library.close()
    conn.send(("finished", summary))


def _listen(conn: Any, driver: Any) -> None:
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            # The app is gone: stop the workers rather than run a batch nobody will see.
            driver.cancel()
            return
        if message == CANCEL:
            driver.cancel()
