"""The hairs of one photo as a CSV file a person can correct (``photostation measure --out``
writes it, ``--hairs`` reads it back).

One row per hair, in the photo's pixels (the file as displayed, EXIF orientation applied)::

    root_x_px,root_y_px,direction_deg,length_um,width_um,unit,fine
    812.4,377.0,48.2,612.0,74.1,3,0

To correct: delete the row of something that is not a hair; add a row for a missed hair
(only ``root_x_px`` and ``root_y_px`` are required; an empty ``unit`` makes it a unit of its
own, an empty ``width_um`` leaves it out of the width figures); change ``unit`` to join or
split follicular units. Lines starting with ``#`` are comments.
"""
from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path

from photostation.errors import InputError

COLUMNS = ("root_x_px", "root_y_px", "direction_deg", "length_um", "width_um", "unit", "fine")
REQUIRED = ("root_x_px", "root_y_px")


@dataclass(frozen=True)
class HairRow:
    root: tuple[float, float]
    direction_deg: float | None
    length_um: float | None
    width_um: float | None
    unit: int
    fine: bool


def hairs_csv(rows: list[HairRow]) -> str:
    """The CSV text of ``rows`` (:data:`COLUMNS`, numbers rounded to 0.1)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)

    def num(v: float | None) -> str:
        return "" if v is None or not math.isfinite(v) else f"{v:.1f}"

    for r in rows:
        writer.writerow([num(r.root[0]), num(r.root[1]), num(r.direction_deg), num(r.length_um), num(r.width_um),
                         r.unit, int(r.fine)])
    return out.getvalue()


def read_hairs_csv(path: Path, image_size: tuple[int, int]) -> list[HairRow]:
    """Read a hairs file, checking every row.

    Parameters
    ----------
    path : Path
    image_size : tuple of int
        ``(width, height)`` of the photo: every root must lie in it.

    Raises
    ------
    InputError
        Unreadable file, missing columns, a value that is not a number, a root outside the
        photo: one line naming the file and the line.
    """
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise InputError(f"{path.name}: cannot read the hairs file ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise InputError(f"{path.name}: not a hairs file (not UTF-8 text)") from None
    lines = [(n, line) for n, line in enumerate(text.splitlines(), 1)
             if line.strip() and not line.lstrip().startswith("#")]
    if not lines:
        raise InputError(f"{path.name}: empty hairs file (expected the header {','.join(COLUMNS)})")
    try:
        parsed = list(csv.reader([line for _, line in lines]))
    except csv.Error as exc:
        raise InputError(f"{path.name}: not a CSV hairs file ({exc})") from None
    header = [h.strip() for h in parsed[0]]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise InputError(f"{path.name}: line {lines[0][0]}: the header lacks {', '.join(missing)} "
                         f"(expected {','.join(COLUMNS)})")
    unknown = [h for h in header if h not in COLUMNS]
    if unknown:
        raise InputError(f"{path.name}: line {lines[0][0]}: unknown column(s) {', '.join(unknown)}")
    width, height = image_size
    rows: list[HairRow] = []
    used_units: set[int] = set()
    pending_units: list[int] = []
    for (line_no, _), values in zip(lines[1:], parsed[1:]):
        if len(values) > len(header):
            raise InputError(f"{path.name}: line {line_no}: {len(values)} values for {len(header)} columns")
        cell = dict(zip(header, [v.strip() for v in values]))

        def number(name: str, required: bool = False) -> float | None:
            raw = cell.get(name, "")
            if raw == "":
                if required:
                    raise InputError(f"{path.name}: line {line_no}: {name} is empty")
                return None
            try:
                value = float(raw)
            except ValueError:
                raise InputError(f"{path.name}: line {line_no}: {name} {raw!r} is not a number") from None
            if not math.isfinite(value):
                raise InputError(f"{path.name}: line {line_no}: {name} {raw!r} is not a finite number")
            return value

        x, y = number("root_x_px", True), number("root_y_px", True)
        if not (0 <= x < width and 0 <= y < height):
            raise InputError(f"{path.name}: line {line_no}: root ({x:g}, {y:g}) lies outside the photo "
                             f"({width} x {height} px)")
        for name in ("length_um", "width_um"):
            value = number(name)
            if value is not None and value <= 0:
                raise InputError(f"{path.name}: line {line_no}: {name} must be positive")
        unit = number("unit")
        if unit is not None and (unit != int(unit) or unit < 0):
            raise InputError(f"{path.name}: line {line_no}: unit must be a whole number >= 0")
        fine = cell.get("fine", "") or "0"
        if fine not in ("0", "1"):
            raise InputError(f"{path.name}: line {line_no}: fine must be 0 or 1")
        if unit is not None:
            used_units.add(int(unit))
        else:
            pending_units.append(len(rows))
        rows.append(HairRow((x, y), number("direction_deg"), number("length_um"), number("width_um"),
                            -1 if unit is None else int(unit), fine == "1"))
    # A hair added without a unit is a unit of its own.
    next_unit = max(used_units, default=-1) + 1
    for i in pending_units:
        r = rows[i]
        rows[i] = HairRow(r.root, r.direction_deg, r.length_um, r.width_um, next_unit, r.fine)
        next_unit += 1
    return rows
