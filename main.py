"""Launch DiT360 Desktop: ``python main.py [--model DIR] [IMAGE]``."""

import sys

from dit360_desktop.app import main

if __name__ == "__main__":
    sys.exit(main())
