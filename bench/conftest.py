"""pytest-benchmark suites: `pytest bench --benchmark-enable` (CI runs only tests/)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
