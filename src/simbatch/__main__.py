"""``python -m simbatch``: the ``simbatch`` command line."""

import sys

from simbatch.cli.main import main

if __name__ == "__main__":  # importing this module (say, to walk the package) runs nothing
    sys.exit(main())
