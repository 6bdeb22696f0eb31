"""ctest's test_notebook: executes examples/notebooks/quickstart.ipynb headless with Debian's
nbconvert and ipykernel (a cell that raises fails it; the notebook asserts the loss numbers
of examples/gle_small/README.md). Exit 77 (skipped) without python3-nbconvert,
python3-ipykernel or python3-matplotlib: scripts/install-deps.sh installs them.
Usage: run_notebook.py NOTEBOOK OUTDIR"""
import os
import subprocess
import sys

try:
    import ipykernel  # noqa: F401
    import matplotlib  # noqa: F401
    import nbconvert  # noqa: F401
    import numpy  # noqa: F401
except ImportError as e:
    print("%s: skipped (scripts/install-deps.sh installs the notebook packages)" % e)
    sys.exit(77)

notebook, outdir = sys.argv[1], sys.argv[2]
env = dict(os.environ, PYDEVD_DISABLE_FILE_VALIDATION="1", MPLBACKEND="agg")
p = subprocess.run([sys.executable, "-m", "nbconvert", "--to", "notebook", "--execute",
                    "--ExecutePreprocessor.timeout=300", "--output-dir", outdir, notebook],
                   env=env)
sys.exit(p.returncode)
