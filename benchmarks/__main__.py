"""``python -m benchmarks run --suite NAME [...]`` / ``python -m benchmarks list``."""

import sys

from ._runner import main

sys.exit(main())
