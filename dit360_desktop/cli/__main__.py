import sys

from dit360_desktop.cli import main

sys.exit(main())
