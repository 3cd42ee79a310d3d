"""Entry point of ``python -m traffic_lam.evaluation`` (the same as ``traffic-lam evaluate``)."""

import sys

from traffic_lam.evaluation.command import main

sys.exit(main())
