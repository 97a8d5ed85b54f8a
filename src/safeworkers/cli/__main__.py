"""``python -m safeworkers.cli``: the ``safeworkers`` command."""

from safeworkers.cli import main

raise SystemExit(main())
