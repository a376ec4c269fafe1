"""``python -m dit360_desktop.selftest [--gui] ...``: the self-test from a checkout."""

import sys

from dit360_desktop.selftest import main

if __name__ == "__main__":
    arguments = sys.argv[1:]
    gui = "--gui" in arguments
    sys.exit(main([argument for argument in arguments if argument != "--gui"], gui=gui))
