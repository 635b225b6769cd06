"""Writing output files whole or not at all: a temporary file in the target folder, then an
atomic rename, so an interrupted run never leaves a half-written file behind.

The temporary file is created exclusively (``mkstemp``: a new name, mode 0600, never through a
link) in the target's own folder; the rename replaces whatever is at the target's name, a link
included, and never writes through a link to a file elsewhere. The file gets the permissions
``open()`` would give it (0666 less the umask), set on the open file, not by name."""
from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from photostation.errors import InputError


def _file_mode() -> int:
    # The umask can only be read by setting it: set the strictest one for that instant, so a
    # file another thread creates meanwhile is never more open than intended.
    mask = os.umask(0o077)
    os.umask(mask)
    return 0o666 & ~mask


def write_atomic(target: Path, write: Callable[[BinaryIO], None]) -> Path:
    """Write ``target`` through ``write(handle)`` atomically; create the folder if needed.

    Raises
    ------
    InputError
        When the folder cannot be created or written, or the target's name is taken by a folder.
    """
    target = Path(target)
    if target.is_dir() and not target.is_symlink():
        raise InputError(f"cannot write {target}: a folder has that name")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    except OSError as exc:
        raise InputError(f"cannot write to {target.parent}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            if hasattr(os, "fchmod"):
                os.fchmod(handle.fileno(), _file_mode())
            else:  # pragma: no cover - Windows before Python 3.13
                os.chmod(temp, _file_mode())
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return target
