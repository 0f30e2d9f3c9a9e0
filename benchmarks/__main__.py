"""``python -m benchmarks run --suite NAME [...]`` / ``python -m benchmarks list``."""

import sys

try:
    from ._runner import main
except KeyboardInterrupt:  # Ctrl-C while the runner itself imports (numpy, scikit-learn)
    print("interrupted before any case ran: nothing written", file=sys.stderr)
    sys.exit(130)

sys.exit(main())
