"""``python -m fluoseg`` runs the command-line interface."""

from fluoseg.cli import main

raise SystemExit(main())
