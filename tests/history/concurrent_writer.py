"""Save N small panoramas into a library; run two of these at once to check that writers do not collide."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from history_factory import make_result

from dit360_desktop.history.library import Library


def main() -> int:
    folder, name, count = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    with Library.open(folder) as library:
        for i in range(count):
            entry = library.save(make_result(f"Writer {name} panorama {i}", seed=i))
            library.set_tags(entry.id, [name])
    return 0


if __name__ == "__main__":
    sys.exit(main())
