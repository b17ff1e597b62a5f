"""Facts stamped on every job's output: the code version and a fresh run id."""

from __future__ import annotations

import functools
import subprocess
import uuid
from pathlib import Path

from common import __version__


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """The git commit of the code (``+dirty`` when the tree has changes), else the package version."""
    root = Path(__file__).resolve().parent.parent
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5)
        if sha.returncode != 0:
            return __version__
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return sha.stdout.strip() + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return __version__


def new_run_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"
