"""What every benchmark shares: its common options, the folder of rendered photos, and
writing its results (one JSON file under ``benchmarks/results/``)."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def benchmark_parser(description: str, default_out: Path, *, quick: str, jobs: str,
                     keep: bool = True) -> argparse.ArgumentParser:
    """An argument parser with the options every benchmark has: ``--quick``, ``--seed``,
    ``--out``, ``--jobs`` and (when it renders photos to disk) ``--keep``. ``quick`` and
    ``jobs`` are the help texts of the two options whose meaning differs."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true", help=quick)
    p.add_argument("--seed", type=int, default=0, help="seed of every random choice (default 0)")
    p.add_argument("--out", type=Path, default=default_out,
                   help=f"JSON results (default {default_out.relative_to(ROOT)})")
    p.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), help=jobs)
    if keep:
        p.add_argument("--keep", action="store_true", help="keep the rendered photos (the folder is printed)")
    return p


@contextmanager
def photo_folder(name: str, keep: bool) -> Iterator[Path]:
    """A temporary folder for the rendered photos, removed at the end unless ``keep``."""
    folder = Path(tempfile.mkdtemp(prefix=f"photostation-{name}-"))
    try:
        yield folder
    finally:
        if keep:
            print(f"photos kept in {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


def _plain(value: Any) -> Any:
    return value.tolist() if isinstance(value, np.ndarray) else str(value)


def write_results(path: Path, data: dict[str, Any]) -> None:
    """Write the JSON atomically (temporary file, then rename), so that an interrupted run
    never leaves a half-written results file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, default=_plain))
    tmp.replace(path)
