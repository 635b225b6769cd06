"""Storing measurements in the ledger: each a named value with its unit and method, attached to
the photo it describes (the follow-up of a comparison carries the change)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from photostation.errors import InputError
from photostation.ledger import LedgerInfo, Measurement, Photo

# (JSON section, key) -> (measurement name, unit)
COMPARISON_FIELDS = {
    ("followup", "density_per_cm2"): ("density_per_cm2", "hairs/cm2"),
    ("followup", "hair_count"): ("hair_count", "hairs"),
    ("followup", "coverage_pct"): ("coverage_pct", "%"),
    ("followup", "mean_shaft_width_um"): ("mean_shaft_width_um", "um"),
    ("followup", "vellus_pct"): ("vellus_pct", "%"),
    ("change", "density_per_cm2"): ("density_change_per_cm2", "hairs/cm2"),
    ("change", "density_pct"): ("density_change_pct", "%"),
    ("change", "coverage_pct_points"): ("coverage_change_pts", "percentage points"),
}
METHOD = "photostation compare (registered, matched)"


def _photo(session: Session, path: Path) -> Photo:
    info = session.get(LedgerInfo, "archive_root")
    if info is None:
        raise InputError("the ledger holds no archive: ingest it first")
    try:
        relative = Path(path).resolve().relative_to(Path(info.value)).as_posix()
    except ValueError:
        raise InputError(f"{path} is not in the ledger's archive {info.value}") from None
    photo = session.scalar(select(Photo).where(Photo.relative_path == relative))
    if photo is None:
        raise InputError(f"{relative} is not in the ledger: ingest the archive first")
    return photo


def save_comparison(factory: sessionmaker[Session], baseline: Path, followup: Path, data: dict[str, Any]) -> int:
    """Store a comparison's numbers on the follow-up photo (replacing an earlier comparison's).

    Returns
    -------
    int
        Number of measurements stored.
    """
    with factory.begin() as session:
        return store_comparison(session, _photo(session, baseline), _photo(session, followup), data)


def store_comparison(session: Session, base: Photo, follow: Photo, data: dict[str, Any]) -> int:
    """:func:`save_comparison` within the caller's transaction, for photos already loaded."""
    for old in session.scalars(select(Measurement).where(Measurement.photo_id == follow.id,
                                                         Measurement.method == METHOD)):
        session.delete(old)
    details = {"baseline": base.relative_path, "comparable": data["comparable"],
               "outcome": data["change"]["outcome"], "flags": data["flags"][:10],
               "ci95_density_per_cm2": data["change"]["ci95_density_per_cm2"]}
    stored = 0
    for (section, key), (name, unit) in COMPARISON_FIELDS.items():
        value = data[section].get(key)
        if value is None:
            continue
        session.add(Measurement(photo_id=follow.id, name=name, value=float(value), unit=unit, method=METHOD,
                                details=details))
        stored += 1
    return stored
