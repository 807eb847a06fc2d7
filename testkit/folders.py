"""Data folders of the servers a test or a measurement starts."""

from __future__ import annotations

import tempfile
from pathlib import Path


def data_folder(prefix: str) -> Path:
    """A fresh temporary folder other users may enter. As root, the embedded Postgres runs as a user of
    its own: a private folder (mkdtemp's 0700) would send its data to a stand-in under /var/lib that
    nothing removes, and a suite run leaked about 70 MB there per server it started, until the disk
    filled and Postgres, unable to write, stopped answering. Inside this folder, its data goes with it."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    folder.chmod(0o755)
    return folder
