"""``python -m warpkit`` is the ``warpkit`` command."""

import sys

from warpkit.cli import main

sys.exit(main())
