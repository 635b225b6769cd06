"""Plain records of a clinic audit: what ``photostation audit`` reads back from the ledger and
what the month-6 report (:mod:`pipelines.audit_report`) presents. Frozen dataclasses, no
behaviour: the audit fills them, the report and the exports read them.

Patient codes only (pseudonymous archive folder names); never names, GPS, serials or owners.
:func:`json_safe` gives any of them (or a ``compare --json`` object) as plain JSON data.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import math
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

from pipelines.drift import ControlChart, DriftEvent


@dataclass(frozen=True)
class PairRow:
    """One follow-up photo compared with the baseline photo of the same view."""

    patient: str
    view: str
    baseline_visit: str
    followup_visit: str
    baseline_photo: str
    """Relative path in the archive, ``<patient>/<visit>/<view>.<ext>``."""
    followup_photo: str
    kind: str | None
    """``trichoscopy`` or ``global``; None when the comparison could not run."""
    comparable: bool
    outcome: str | None
    """``improved``, ``stable``, ``worse`` or None (not comparable, unsure or inconclusive)."""
    reasons: tuple[str, ...]
    """Why the pair is not comparable (empty when it is)."""
    flags: tuple[str, ...]
    density_baseline_per_cm2: float | None = None
    density_followup_per_cm2: float | None = None
    density_change_per_cm2: float | None = None
    density_ci95_per_cm2: tuple[float, float] | None = None
    coverage_baseline_pct: float | None = None
    coverage_followup_pct: float | None = None
    coverage_change_pts: float | None = None
    coverage_ci95_pts: tuple[float, float] | None = None
    mm_per_px: float | None = None
    scale_source: str | None = None
    """Where the scale came from: ``card``, ``station profile``, ``protocol`` or None."""
    thumbnails: dict[str, bytes] = field(default_factory=dict)
    """Small JPEGs (``baseline``, ``followup``), at most 320 px, no EXIF."""


@dataclass(frozen=True)
class CheckRow:
    """One rule's outcome for a photo (``photo`` set) or a visit (``photo`` None)."""

    patient: str
    visit: str
    view: str | None
    photo: str | None
    scope: str
    """``photo``, ``pair``, ``compare``, ``integrity`` or ``visit``."""
    name: str
    status: str
    """``pass``, ``warn`` or ``fail``."""
    value: object
    limit: object
    message: str
    station: str | None = None
    operator: str | None = None
    captured_at: str | None = None
    """ISO 8601, as the camera recorded it."""


@dataclass(frozen=True)
class Finding:
    """A problem of the archive itself (not of one rule on one photo): a missing baseline or
    view, an unreadable or duplicate photo, a clock reset, a station without a profile. One
    finding per problem, naming every photo it affects."""

    kind: str
    """Short stable name, e.g. ``missing-baseline``, ``unreadable``, ``duplicate``."""
    message: str
    patient: str | None = None
    photos: tuple[str, ...] = ()


@dataclass(frozen=True)
class AuditSummary:
    """Everything the month-6 report shows."""

    generated_at: dt.datetime
    protocol: str
    """The protocol's name and version."""
    patients: int
    photos: int
    pairs: tuple[PairRow, ...]
    checks: tuple[CheckRow, ...]
    findings: tuple[Finding, ...]
    charts: tuple[ControlChart, ...]
    events: tuple[DriftEvent, ...]


def json_safe(value: Any) -> Any:
    """A JSON-ready copy: non-finite floats None, datetimes ISO 8601, tuples lists, no bytes."""
    if value is None or isinstance(value, (bool, str, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return None
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [json_safe(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return json_safe(record_fields(value))
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return json_safe(value.tolist())
    return str(value)


def record_fields(item: Any) -> dict[str, Any]:
    """The fields of a record dataclass, by name (no deep copy, unlike ``asdict``)."""
    return {f.name: getattr(item, f.name) for f in dataclasses.fields(item)}


def finite_number(value: Any) -> float | None:
    """The value as a float, or None when it is missing or not finite."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None
