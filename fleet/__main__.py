"""``python -m fleet`` is the ``ocpp-fleet`` command."""

from fleet.cli import main

raise SystemExit(main())
