"""``python -m inferd``."""
from __future__ import annotations

import sys

from inferd.cli import main

sys.exit(main())
