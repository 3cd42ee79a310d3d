"""``python -m traffic_lam`` runs the command line."""

from traffic_lam.cli import main

raise SystemExit(main())
