"""Plain records of a clinic audit: what ``photostation audit`` reads back from the ledger and
what the month-6 report (:mod:`pipelines.audit_report`) presents. Frozen dataclasses, no
behaviour: the audit fills them, the report and the exports read them.

Patient codes only (pseudonymous archive folder names); never names, GPS, serials or owners.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

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
