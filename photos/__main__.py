import sys

from photos.cli import main

sys.exit(main())
