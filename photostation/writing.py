"""Writing output files whole or not at all: a temporary file in the target folder, then an
atomic rename, so an interrupted run never leaves a half-written file behind."""
from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from photostation.errors import InputError


def write_atomic(target: Path, write: Callable[[BinaryIO], None]) -> Path:
    """Write ``target`` through ``write(handle)`` atomically; create the folder if needed.

    Raises
    ------
    InputError
        When the folder cannot be created or written.
    """
    target = Path(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    except OSError as exc:
        raise InputError(f"cannot write to {target.parent}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
        os.chmod(temp, 0o644)
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return target
