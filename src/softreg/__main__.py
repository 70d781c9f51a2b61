"""``python -m softreg`` runs the command-line interface."""

from softreg.cli import main

raise SystemExit(main())
