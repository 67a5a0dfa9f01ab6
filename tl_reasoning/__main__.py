"""``python -m tl_reasoning`` runs the command line."""

import sys

from tl_reasoning.cli import main

sys.exit(main())
