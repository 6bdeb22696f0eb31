"""ctest's entry to the Python tests: every tests/python/test_*.py, with Debian's python3.
Exit status 77 (ctest: skipped) when NumPy is missing: scripts/install-deps.sh installs it."""
import os
import sys
import unittest

try:
    import numpy  # noqa: F401
except ImportError:
    print("python3-numpy is not installed (scripts/install-deps.sh installs it): skipped")
    sys.exit(77)

here = os.path.dirname(os.path.abspath(__file__))
suite = unittest.defaultTestLoader.discover(here, pattern=sys.argv[1] if len(sys.argv) > 1
                                            else "test_*.py", top_level_dir=here)
result = unittest.TextTestRunner(verbosity=2).run(suite)
sys.exit(0 if result.wasSuccessful() else 1)
