"""`python -m mdrcds ...` and `spark-submit .../mdrcds/__main__.py batch ...`: the `mdrcds` command."""

import sys

from mdrcds.cli import main

sys.exit(main())
