"""``python -m incident_lifecycle``: the command line."""

from .cli import main

raise SystemExit(main())
