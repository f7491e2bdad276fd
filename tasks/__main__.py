"""``python -m tasks``: the ``aggregen`` command."""

from __future__ import annotations

import sys

from tasks.cli import main

sys.exit(main())
