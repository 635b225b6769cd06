"""Writing a benchmark's results: one JSON file under ``benchmarks/results/``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np


def _plain(value: Any) -> Any:
    return value.tolist() if isinstance(value, np.ndarray) else str(value)


def write_results(path: Path, data: dict[str, Any]) -> None:
    """Write the JSON atomically (temporary file, then rename), so that an interrupted run
    never leaves a half-written results file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, default=_plain))
    tmp.replace(path)
