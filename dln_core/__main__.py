"""``python -m dln_core …``: the command line (dln_core/cli/)."""

import sys

from .cli import main

sys.exit(main())
