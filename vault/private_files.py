"""Files only the vault's own user may read: the SQLite database and its ``-wal`` and ``-shm``
files (0600) and the folders that hold them (0700). Created that way, whatever the process's
umask, and tightened by `vault init` when an earlier version left them open to others."""

from __future__ import annotations

import os
import stat
from pathlib import Path

PRIVATE_FILE = 0o600
PRIVATE_FOLDER = 0o700


def create_private_file(path: Path) -> bool:
    """Create ``path`` empty with mode 0600 (and its missing folders with mode 0700) unless it
    exists; an existing file is left as it is. Returns True when it was created. Raises
    ``OSError`` when it cannot be created."""
    if path.exists():
        return False
    path.parent.mkdir(mode=PRIVATE_FOLDER, parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    except FileExistsError:  # another process created it first: its mode is its own
        return False
    try:
        os.fchmod(fd, PRIVATE_FILE)  # the umask may have taken bits away, never added them
    finally:
        os.close(fd)
    return True


def restrict_mode(path: Path, mode: int, *, owner: int | None = None) -> bool:
    """Take from ``path`` every permission that ``mode`` does not grant, when it exists and
    belongs to ``owner`` (by default this process's user): a file of another user is theirs
    to decide about. Never adds a permission. Returns True when the mode changed. Raises
    ``OSError`` when it cannot be changed."""
    try:
        status = path.stat()
    except FileNotFoundError:
        return False
    if status.st_uid != (os.geteuid() if owner is None else owner):
        return False
    current = stat.S_IMODE(status.st_mode)
    tightened = current & mode
    if tightened == current:
        return False
    path.chmod(tightened)
    return True
