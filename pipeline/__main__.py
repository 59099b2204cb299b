"""``python -m pipeline``: the same command line as ``python -m study.sweep``."""

import sys

from pipeline import main

sys.exit(main())
