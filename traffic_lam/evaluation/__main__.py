"""Entry point of ``python -m traffic_lam.evaluation``."""

import sys

from traffic_lam.evaluation.command import main

sys.exit(main())
