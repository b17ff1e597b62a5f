"""The Delta lake: table specs (schemas), the one Delta read/commit path, and the Spark jobs."""

import os as _os
import sys as _sys

# In the Python workers Spark starts for the lake's jobs (lake.spark sets this variable for them,
# never for the driver), torch is kept out: miditok imports it only for its optional PyTorch
# datasets and guards that import, and the lake never uses it. Each worker then starts about a
# second sooner and ~200 MB smaller.
WORKER_ENV = "MUSICLAKE_SPARK_WORKER"
if _os.environ.get(WORKER_ENV) == "1" and "torch" not in _sys.modules:
    _sys.modules["torch"] = None
