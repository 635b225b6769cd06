"""The auditor's work on an audited ledger, for the review app's Audit page: the flags (one row
per finding) with filters, resolving a finding with a note, the drift control charts as
Vega-Lite specs, the cohort summary as rows, and the report to download. Nothing here draws.

*A finding* is a rule that warned or failed, once per visit: the same check name with the same
status on several photos of one visit (a month-6 visit shot at ISO 400 fails ``camera.iso`` on
every view) is one row listing the views and photos affected, and a visit-level check of the
same name and status (``schedule.window``) belongs to the same row. The archive's own problems
that are not checks -- a photo stored twice (``archive.duplicate``) and a station without a
calibration profile (``archive.station-without-profile``), as :mod:`pipelines.audit_summary`
finds them -- are findings too, one row each. Every other finding of the audit summary (missing
baseline or views, unreadable or changed files, a failed comparison, a clock problem) is a
check, so it is already a row.

*Resolving* a finding appends a :class:`~photostation.ledger.FlagResolution` for each of its
checks (for an archive finding: for each photo it names). A finding is resolved while every one
of its checks still has the status and message it had when resolved; a check that changes, or
a photo that joins the finding, opens it again.

Patient codes only (pseudonymous archive folder names); reviewers are staff initials or IDs.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import io
import tempfile
import zipfile
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session, defer, selectinload, sessionmaker

from photostation import trail
from photostation.errors import InputError
from photostation.ledger import CheckRecord, FlagResolution, Photo, StationProfile, Visit
from pipelines.audit_records import AuditSummary
from pipelines.audit_report import (_COHORT_LABELS, COHORT_KEYS, chart_spec, cohort_counts, not_comparable_reasons,
                                    render_html, write_report)
from pipelines.audit_summary import _findings as archive_findings
from pipelines.drift import ControlChart, DriftEvent

STATUSES = ("fail", "warn")
"""The statuses of a flag, worst first."""
STATES = ("open", "resolved", "all")
ARCHIVE_SCOPE = "archive"
"""``FlagResolution.scope`` of a resolution of an archive finding (not a check)."""
ARCHIVE_STATUS = {"duplicate": "fail", "station-without-profile": "warn"}
"""Status of each kind of archive finding; another kind is a warning."""
REVIEWER_MAX, NOTE_MAX = 200, 2000

QUANTITY_WORDS = {
    "exposure_ev": "exposure (EV)",
    "colour_cast_mired": "colour cast (mired)",
    "sharpness": "sharpness",
    "lighting_uniformity": "lighting uniformity (ratio)",
    "exposure_difference_ev": "exposure vs baseline (EV)",
    "white_balance_shift_mired": "white-balance shift vs baseline (mired)",
    "focus_ratio": "focus vs baseline (ratio)",
    "scale_difference_pct": "scale vs baseline (%)",
    "roll_deg": "roll vs baseline (degrees)",
    "tilt_deg": "tilt vs baseline (degrees)",
    "iso_stops": "ISO (stops from ISO 100)",
    "shutter_stops": "shutter (stops from 1/125 s)",
    "aperture_stops": "aperture (stops from f/8)",
    "focal_length_mm": "focal length (mm)",
}
"""The drift quantities of :mod:`pipelines.audit_summary` in words."""
MEASURES: dict[str, tuple[str, ...]] = {
    "exposure": ("exposure_ev", "exposure_difference_ev"),
    "colour": ("colour_cast_mired", "white_balance_shift_mired"),
    "focus": ("sharpness", "focus_ratio"),
    "scale": ("scale_difference_pct", "focal_length_mm"),
    "angle": ("roll_deg", "tilt_deg"),
    "lighting": ("lighting_uniformity",),
    "camera settings": ("iso_stops", "shutter_stops", "aperture_stops", "focal_length_mm"),
}
"""What an auditor asks for -> the drift quantities that show it."""
RULE_WORDS = {"shewhart": "jump (Shewhart)", "ewma": "slow drift (EWMA)"}


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class FlagFilter:
    """Which findings to list. An empty tuple (or None) means no restriction.

    Attributes
    ----------
    start, end : datetime.date, optional
        The period, both days included: a finding is listed when one of its days (the
        capture date of a photo it affects, else its visit's date) is in it. A finding
        without any date is left out when a period is given.
    stations, operators : tuple of str
    rules : tuple of str
        Check names (``camera.iso``) or archive findings (``archive.duplicate``).
    statuses : tuple of {"fail", "warn"}
    state : {"open", "resolved", "all"}
    """

    start: dt.date | None = None
    end: dt.date | None = None
    stations: tuple[str, ...] = ()
    operators: tuple[str, ...] = ()
    rules: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    state: str = "all"

    def __post_init__(self) -> None:
        for name in ("stations", "operators", "rules", "statuses"):
            object.__setattr__(self, name, _as_tuple(getattr(self, name)))
        for name in ("start", "end"):
            value = getattr(self, name)
            if isinstance(value, dt.datetime):
                object.__setattr__(self, name, value.date())
        unknown = set(self.statuses) - set(STATUSES)
        if unknown:
            raise InputError(f"status must be fail or warn, not {', '.join(sorted(unknown))}")
        if self.state not in STATES:
            raise InputError(f"state must be one of {', '.join(STATES)}, not {self.state!r}")
        if self.start and self.end and self.start > self.end:
            raise InputError(f"the period starts ({self.start}) after it ends ({self.end})")


@dataclass(frozen=True)
class FilterOptions:
    """Everything the flag filters can offer, read from the whole ledger.

    Attributes
    ----------
    stations, operators : tuple of str
        Every station and operator of a visit or photo (stations also of a calibration
        profile), whether or not it has a flag.
    rules : tuple of str
        The rules that warned or failed somewhere (check names and archive findings).
    first_date, last_date : datetime.date or None
        The first and last visit or capture date in the ledger (None when it has no dates).
    statuses, states : tuple of str
    """

    stations: tuple[str, ...]
    operators: tuple[str, ...]
    rules: tuple[str, ...]
    first_date: dt.date | None
    last_date: dt.date | None
    statuses: tuple[str, ...] = STATUSES
    states: tuple[str, ...] = STATES


@dataclass(frozen=True)
class FlagRow:
    """One finding: a rule that warned or failed on one visit (or an archive finding).

    Attributes
    ----------
    key : str
        Stable name of the finding, for :func:`resolve_flag`: ``visit/<visit id>/<status>/<rule>``
        or ``archive/<kind>/<digest or station>``.
    rule, status : str
        Check name (or ``archive.<kind>``); ``fail`` or ``warn``.
    message : str
        The most frequent message of its checks (the first one on a tie).
    patient, visit : str or None
        Patient code and visit label (None for an archive finding across patients or visits).
    visit_id : int or None
    visit_date : datetime.date or None
        The manifest's visit date, else the first capture date of the visit.
    station, operator : str or None
        For showing: several are joined with ", ".
    stations, operators : tuple of str
    views, photo_ids, photos : tuple
        The photos affected, in the same order: ``views[i]`` is the view of ``photo_ids[i]``
        (the ledger's photo id, for opening the photo) at ``photos[i]`` (its path in the
        archive). Empty for a finding of the visit alone.
    photo_count : int
    whole_visit : bool
        A check of the visit itself is part of the finding.
    checks : int
        Flagged checks grouped in the row (for an archive finding: photos).
    messages : tuple of str
        Every distinct message, most frequent first.
    scopes : tuple of str
        Which steps wrote the checks (``photo``, ``pair``, ``compare``, ``integrity``,
        ``visit``; ``archive`` for an archive finding).
    first_date, last_date : datetime.date or None
        The finding's days: capture dates of its photos, else the visit date.
    state : {"open", "resolved"}
    reopened : bool
        Open although it was resolved before (a check changed, or a photo joined it).
    resolved_by, resolved_at, resolution_note :
        The latest resolution of any of its checks, even when it no longer holds (then
        ``state`` is open and ``reopened`` True); None when never resolved.
        ``resolved_at`` is UTC without a time zone, as the ledger stores it.
    """

    key: str
    rule: str
    status: str
    message: str
    patient: str | None
    visit: str | None
    visit_id: int | None
    visit_date: dt.date | None
    station: str | None
    operator: str | None
    stations: tuple[str, ...]
    operators: tuple[str, ...]
    views: tuple[str, ...]
    photo_ids: tuple[int, ...]
    photos: tuple[str, ...]
    photo_count: int
    whole_visit: bool
    checks: int
    messages: tuple[str, ...]
    scopes: tuple[str, ...]
    first_date: dt.date | None
    last_date: dt.date | None
    state: str
    reopened: bool
    resolved_by: str | None = None
    resolved_at: dt.datetime | None = None
    resolution_note: str | None = None


@dataclass(frozen=True)
class _Item:
    """One flagged check (or one photo of an archive finding): what a resolution is written for."""

    photo_id: int | None
    visit_id: int | None
    """The check's subject, as stored (exactly one of the two is set for a check)."""
    scope: str
    name: str
    status: str
    message: str
    view: str | None = None
    path: str | None = None
    station: str | None = None
    operator: str | None = None
    day: dt.date | None = None

    @property
    def subject(self) -> tuple[int | None, int | None, str, str]:
        return self.photo_id, self.visit_id, self.scope, self.name


@dataclass(frozen=True)
class _Finding:
    key: str
    rule: str
    status: str
    patients: tuple[str, ...]
    visit: Visit | None
    visit_date: dt.date | None
    items: tuple[_Item, ...]


class _Ledger(NamedTuple):
    photos: dict[int, Photo]
    visits: dict[int, Visit]
    visit_days: dict[int, dt.date | None]


# --------------------------------------------------------------------------- flags


def flag_rows(factory: sessionmaker[Session], flt: FlagFilter | None = None) -> list[FlagRow]:
    """The auditor's list of findings, one row per finding, worst first, then newest.

    Parameters
    ----------
    factory : sessionmaker
        The ledger (:func:`photostation.ledger.open_ledger`).
    flt : FlagFilter, optional
        Default: every finding, open or resolved.

    Returns
    -------
    list of FlagRow
        Failures before warnings; within a status the newest (``last_date``) first, undated
        last; then patient, visit and rule.
    """
    flt = flt or FlagFilter()
    with factory() as session:
        findings = _findings(session, _load(session))
        latest = _latest_resolutions(session)
        rows = [_row(finding, latest) for finding in findings.values()]
    return sorted((row for row in rows if _matches(row, flt)), key=_worst_newest)


def filter_options(factory: sessionmaker[Session]) -> FilterOptions:
    """Everything the flag filters can offer (see :class:`FilterOptions`).

    Parameters
    ----------
    factory : sessionmaker

    Returns
    -------
    FilterOptions
    """
    with factory() as session:
        ledger = _load(session)
        rules = {finding.rule for finding in _findings(session, ledger).values()}
        profiled = set(session.scalars(select(StationProfile.station)))
    holders = [*ledger.photos.values(), *ledger.visits.values()]
    days = [d for d in (*ledger.visit_days.values(), *(_capture_day(p) for p in ledger.photos.values())) if d]
    return FilterOptions(stations=_distinct([*(h.station for h in holders), *profiled]),
                         operators=_distinct(h.operator for h in holders), rules=tuple(sorted(rules)),
                         first_date=min(days, default=None), last_date=max(days, default=None))


def resolve_flag(factory: sessionmaker[Session], key: str, reviewer: str, note: str) -> FlagRow:
    """Resolve a finding with a note: one resolution per check of the finding, in one transaction.

    Parameters
    ----------
    factory : sessionmaker
    key : str
        :attr:`FlagRow.key` of an open finding.
    reviewer : str
        Staff initials or ID (1-200 characters; not a patient's name).
    note : str
        Why it is resolved (1-2000 characters).

    Returns
    -------
    FlagRow
        The finding, now resolved.

    Raises
    ------
    InputError
        A missing reviewer or note, or one too long; a key no finding has (fixed since, or
        mistyped); a finding that is already resolved.
    """
    reviewer = _bounded_text(reviewer, "reviewer: give your initials or staff ID", REVIEWER_MAX)
    note = _bounded_text(note, "note: say why the finding is resolved", NOTE_MAX)

    def write(session: Session) -> FlagRow:
        finding = _findings(session, _load(session)).get(key)
        if finding is None:
            raise InputError(f"no finding {key!r} in the ledger: it was fixed since, or the key is wrong")
        latest = _latest_resolutions(session)
        before = _row(finding, latest)
        if before.state == "resolved":
            raise InputError(f"finding {key!r} is already resolved by {before.resolved_by} "
                             f"on {before.resolved_at:%Y-%m-%d %H:%M} UTC")
        now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
        added = []
        for item in finding.items:
            resolution = FlagResolution(photo_id=item.photo_id, visit_id=item.visit_id, scope=item.scope,
                                        name=item.name, status=item.status, message=item.message,
                                        reviewer=reviewer, note=note, resolved_at=now)
            session.add(resolution)
            added.append(resolution)
            latest[item.subject] = resolution
        session.flush()
        for resolution in added:  # chained in the same transaction: all of them or none
            trail.append(session, "flag_resolution", resolution)
        return _row(finding, latest)

    return trail.transaction(factory, write)


def _bounded_text(value: str | None, problem: str, longest: int) -> str:
    text = (value or "").strip()
    if not text:
        raise InputError(problem)
    if len(text) > longest:
        raise InputError(f"{problem.split(':', 1)[0]}: at most {longest} characters, not {len(text)}")
    return text


def _load(session: Session) -> _Ledger:
    """Every photo and visit (with its patient), and each visit's date."""
    photos = {p.id: p for p in session.scalars(select(Photo).options(
        defer(Photo.metadata_json), selectinload(Photo.visit).selectinload(Visit.patient)))}
    visits = {v.id: v for v in session.scalars(select(Visit).options(selectinload(Visit.patient)))}
    first_capture: dict[int, dt.date] = {}
    for photo in photos.values():
        day = _capture_day(photo)
        if day and (photo.visit_id not in first_capture or day < first_capture[photo.visit_id]):
            first_capture[photo.visit_id] = day
    visit_days = {v.id: v.visit_date or first_capture.get(v.id) for v in visits.values()}
    return _Ledger(photos, visits, visit_days)


def _capture_day(photo: Photo) -> dt.date | None:
    """The capture date as the camera recorded it (its local date)."""
    try:
        return dt.date.fromisoformat(photo.captured_at[:10]) if photo.captured_at else None
    except ValueError:
        return None


def _findings(session: Session, ledger: _Ledger) -> dict[str, _Finding]:
    """Every finding of the ledger by key: the flagged checks grouped, then the archive's."""
    found = [*_check_findings(session, ledger), *_archive_findings(session, ledger)]
    return {finding.key: finding for finding in found}


def _check_item(record: CheckRecord, ledger: _Ledger) -> tuple[int, _Item] | None:
    """(visit id, item) of a flagged check; None when its photo or visit is gone."""
    if record.photo_id is not None:
        photo = ledger.photos.get(record.photo_id)
        if photo is None:
            return None
        day = _capture_day(photo) or ledger.visit_days.get(photo.visit_id)
        return photo.visit_id, _Item(record.photo_id, None, record.scope, record.name, record.status, record.message,
                                     photo.view, photo.relative_path, photo.station, photo.operator, day)
    visit = ledger.visits.get(record.visit_id)
    if visit is None:
        return None
    return visit.id, _Item(None, visit.id, record.scope, record.name, record.status, record.message,
                           station=visit.station, operator=visit.operator, day=ledger.visit_days.get(visit.id))


def _check_findings(session: Session, ledger: _Ledger) -> list[_Finding]:
    """The warned and failed checks, one finding per (visit, status, rule)."""
    groups: dict[tuple[int, str, str], list[_Item]] = defaultdict(list)
    query = select(CheckRecord).where(CheckRecord.status.in_(STATUSES)).order_by(CheckRecord.id)
    for record in session.scalars(query):
        placed = _check_item(record, ledger)
        if placed is not None:
            visit_id, item = placed
            groups[(visit_id, item.status, item.name)].append(item)
    findings = []
    for (visit_id, status, name), items in groups.items():
        visit = ledger.visits[visit_id]
        items.sort(key=lambda i: (i.photo_id is not None, i.view or "", i.scope))
        findings.append(_Finding(f"visit/{visit_id}/{status}/{name}", name, status, (visit.patient.code,), visit,
                                 ledger.visit_days.get(visit_id), tuple(items)))
    return findings


def _archive_findings(session: Session, ledger: _Ledger) -> list[_Finding]:
    """The archive's problems that are not checks (a duplicate photo, a station without a
    profile), found as the audit summary finds them; one item per photo named."""
    by_path = {p.relative_path: p for p in ledger.photos.values()}
    findings = []
    for finding in archive_findings(session, ledger.photos, []):
        members = sorted((by_path[p] for p in finding.photos if p in by_path), key=lambda p: p.relative_path)
        if not members:
            continue
        rule, status = f"archive.{finding.kind}", ARCHIVE_STATUS.get(finding.kind, "warn")
        items = tuple(_Item(p.id, None, ARCHIVE_SCOPE, rule, status, finding.message, p.view, p.relative_path,
                            p.station, p.operator, _capture_day(p) or ledger.visit_days.get(p.visit_id))
                      for p in members)
        visits = {p.visit_id for p in members}
        visit = ledger.visits.get(next(iter(visits))) if len(visits) == 1 else None
        findings.append(_Finding(f"archive/{finding.kind}/{_archive_identity(finding.kind, members)}", rule, status,
                                 _distinct(p.visit.patient.code for p in members), visit,
                                 ledger.visit_days.get(visit.id) if visit else None, items))
    return findings


def _archive_identity(kind: str, members: Sequence[Photo]) -> str:
    """What names an archive finding whatever photos join it: the shared bytes of a duplicate,
    the station without a profile; else the photos named."""
    if kind == "duplicate":
        return members[0].digest
    if kind == "station-without-profile" and members[0].station:
        return members[0].station
    return hashlib.sha256("\n".join(p.relative_path for p in members).encode()).hexdigest()[:16]


def _latest_resolutions(session: Session) -> dict[tuple[int | None, int | None, str, str], FlagResolution]:
    """The newest resolution of each check (photo or visit, scope, name)."""
    latest = {}
    for resolution in session.scalars(select(FlagResolution).order_by(FlagResolution.id)):
        latest[(resolution.photo_id, resolution.visit_id, resolution.scope, resolution.name)] = resolution
    return latest


def _resolution(items: Sequence[_Item], latest: dict) -> tuple[bool, FlagResolution | None]:
    """Whether every item's newest resolution still holds (same status and message), and the
    newest resolution of any item."""
    found = [latest.get(item.subject) for item in items]
    holds = all(r is not None and r.status == i.status and r.message == i.message for r, i in zip(found, items))
    newest = max((r for r in found if r is not None), key=lambda r: (r.resolved_at, r.id or 0), default=None)
    return holds, newest


def _row(finding: _Finding, latest: dict) -> FlagRow:
    items = finding.items
    photos = list({i.photo_id: i for i in items if i.photo_id is not None}.values())
    messages = [m for m, _ in Counter(i.message for i in items).most_common()]
    days = [i.day for i in items if i.day]
    stations, operators = _distinct(i.station for i in items), _distinct(i.operator for i in items)
    holds, newest = _resolution(items, latest)
    visit = finding.visit
    return FlagRow(
        key=finding.key, rule=finding.rule, status=finding.status, message=messages[0],
        patient=", ".join(finding.patients) or None, visit=visit.label if visit else None,
        visit_id=visit.id if visit else None, visit_date=finding.visit_date,
        station=", ".join(stations) or None, operator=", ".join(operators) or None,
        stations=stations, operators=operators, views=tuple(i.view or "" for i in photos),
        photo_ids=tuple(i.photo_id for i in photos), photos=tuple(i.path or "" for i in photos),
        photo_count=len(photos), whole_visit=any(i.photo_id is None for i in items), checks=len(items),
        messages=tuple(messages), scopes=_distinct(i.scope for i in items),
        first_date=min(days, default=None), last_date=max(days, default=None),
        state="resolved" if holds else "open", reopened=not holds and newest is not None,
        resolved_by=newest.reviewer if newest else None, resolved_at=newest.resolved_at if newest else None,
        resolution_note=newest.note if newest else None)


def _matches(row: FlagRow, flt: FlagFilter) -> bool:
    if flt.state != "all" and row.state != flt.state:
        return False
    if flt.statuses and row.status not in flt.statuses:
        return False
    if flt.rules and row.rule not in flt.rules:
        return False
    if flt.stations and not set(row.stations) & set(flt.stations):
        return False
    if flt.operators and not set(row.operators) & set(flt.operators):
        return False
    return _in_period(row, flt.start, flt.end)


def _in_period(row: FlagRow, start: dt.date | None, end: dt.date | None) -> bool:
    if start is None and end is None:
        return True
    if row.first_date is None or row.last_date is None:
        return False
    return (start is None or row.last_date >= start) and (end is None or row.first_date <= end)


def _worst_newest(row: FlagRow) -> tuple:
    newest = -row.last_date.toordinal() if row.last_date else 0
    return (STATUSES.index(row.status), row.last_date is None, newest, row.patient or "", row.visit or "",
            row.rule, row.key)


# --------------------------------------------------------------------------- drift


def drift_chart_specs(summary: AuditSummary, group_kind: str | None = None, group: str | None = None,
                      measures: Iterable[str] | str | None = None) -> list[tuple[str, dict[str, Any]]]:
    """The control charts as Vega-Lite specs for ``st.vega_lite_chart``, as the report draws them.

    Parameters
    ----------
    summary : AuditSummary
    group_kind : {"station", "operator"}, optional
        Only the charts of stations, or of operators.
    group : str, optional
        Only the charts of this station or operator.
    measures : iterable of str, optional
        Measures in words (keys of :data:`MEASURES`: ``exposure``, ``colour``, ``focus``,
        ``scale``, ``angle``, ``lighting``, ``camera settings``) or drift quantities
        (``exposure_ev``, ``roll_deg``, ...). Default (None): all; an empty selection: none.

    Returns
    -------
    list of (str, dict)
        A title in words and the spec of :func:`pipelines.audit_report.chart_spec` (values
        over capture time, limits, EWMA, and each drift event as a band from its start to its
        last photo), in the summary's order.

    Raises
    ------
    InputError
        An unknown group kind or measure.
    """
    return [(chart_title(chart), chart_spec(chart)) for chart in _charts(summary, group_kind, group, measures)]


def drift_event_rows(summary: AuditSummary, group_kind: str | None = None, group: str | None = None,
                     measures: Iterable[str] | str | None = None) -> list[dict[str, Any]]:
    """The drift events as plain rows for a table, newest detection first.

    Parameters
    ----------
    summary : AuditSummary
    group_kind, group, measures :
        As for :func:`drift_chart_specs`.

    Returns
    -------
    list of dict
        ``kind`` (station or operator), ``group``, ``measure`` (in words), ``quantity``,
        ``rule`` (jump or slow drift), ``direction``, ``since`` and ``detected`` (capture
        times, naive UTC), ``size`` (in ``unit``), ``unit``, ``size_sigma``, ``photos`` (how
        many) and ``affected_photos`` (their paths).
    """
    events = [event for chart in _charts(summary, group_kind, group, measures) for event in chart.events]
    return [_event_row(event) for event in sorted(events, key=lambda e: e.detected_at, reverse=True)]


def chart_title(chart: ControlChart) -> str:
    """``station station-1: exposure (EV)``, with its drift events counted."""
    title = f"{chart.group_kind} {chart.group}: {QUANTITY_WORDS.get(chart.quantity, _quantity_text(chart))}"
    if chart.events:
        title += f" ({len(chart.events)} drift event{'' if len(chart.events) == 1 else 's'})"
    return title


def _quantity_text(chart: ControlChart) -> str:
    return f"{chart.quantity} ({chart.unit})" if chart.unit else chart.quantity


def _event_row(event: DriftEvent) -> dict[str, Any]:
    return {"kind": event.group_kind, "group": event.group,
            "measure": QUANTITY_WORDS.get(event.quantity, event.quantity), "quantity": event.quantity,
            "rule": RULE_WORDS.get(event.rule, event.rule), "direction": event.direction,
            "since": event.since, "detected": event.detected_at, "size": event.size, "unit": event.unit,
            "size_sigma": event.size_sigma, "photos": len(event.photos), "affected_photos": list(event.photos)}


def _charts(summary: AuditSummary, group_kind: str | None, group: str | None,
            measures: Iterable[str] | str | None) -> list[ControlChart]:
    if group_kind is not None and group_kind not in ("station", "operator"):
        raise InputError(f"group kind must be station or operator, not {group_kind!r}")
    wanted = _quantities(measures, {chart.quantity for chart in summary.charts})
    return [chart for chart in summary.charts
            if (group_kind is None or chart.group_kind == group_kind) and (group is None or chart.group == group)
            and (wanted is None or chart.quantity in wanted)]


def _quantities(measures: Iterable[str] | str | None, charted: set[str]) -> set[str] | None:
    """The quantities of measures in words or by name (None: all)."""
    if measures is None:
        return None
    known = charted | set(QUANTITY_WORDS)
    wanted: set[str] = set()
    for measure in _as_tuple(measures):
        if measure in MEASURES:
            wanted.update(MEASURES[measure])
        elif measure in known:
            wanted.add(measure)
        else:
            raise InputError(f"unknown measure {measure!r}: one of {', '.join(MEASURES)}, or a quantity such as "
                             f"exposure_ev")
    return wanted


# --------------------------------------------------------------------------- cohort and report


def cohort_rows(summary: AuditSummary) -> list[dict[str, Any]]:
    """The cohort summary as rows of one table: the pairs by outcome, then why pairs were not
    comparable.

    Parameters
    ----------
    summary : AuditSummary

    Returns
    -------
    list of dict
        ``section`` (``all``, ``outcome`` or ``not comparable because``), ``what`` (the outcome
        in words, or the reason), ``pairs`` and ``share_pct`` (of all pairs; None without
        pairs). First the count of all pairs, then improved, stable, worse, not comparable and
        no outcome (zeros included), then each reason, most frequent first.
    """
    counts = cohort_counts(summary.pairs)
    total = counts["pairs"]

    def share(n: int) -> float | None:
        return round(100.0 * n / total, 1) if total else None

    rows = [{"section": "all" if key == "pairs" else "outcome", "what": _COHORT_LABELS[key], "pairs": counts[key],
             "share_pct": share(counts[key])} for key in COHORT_KEYS]
    rows += [{"section": "not comparable because", "what": reason, "pairs": n, "share_pct": share(n)}
             for reason, n in not_comparable_reasons(summary.pairs)]
    return rows


def report_html(summary: AuditSummary) -> bytes:
    """The report page (``report.html`` of :func:`pipelines.audit_report.write_report`), UTF-8.

    Parameters
    ----------
    summary : AuditSummary

    Returns
    -------
    bytes
        One self-contained HTML document; opens offline.
    """
    return render_html(summary).encode("utf-8")


def report_zip(summary: AuditSummary) -> bytes:
    """The whole report -- ``report.html``, ``pairs.csv``, ``checks.csv``, ``drift.csv`` and
    ``audit.json`` -- as one ZIP file in memory (for a download button).

    Parameters
    ----------
    summary : AuditSummary

    Returns
    -------
    bytes
        A ZIP archive with the five files at its top level, dated at the summary's
        generation time (the same summary gives the same bytes).
    """
    stamp = summary.generated_at.timetuple()[:6]
    buffer = io.BytesIO()
    with tempfile.TemporaryDirectory(prefix="photostation-report-") as folder:
        paths = write_report(summary, Path(folder))
        with zipfile.ZipFile(buffer, "w") as archive:
            for path in paths:
                info = zipfile.ZipInfo(path.name, date_time=max(stamp, (1980, 1, 1, 0, 0, 0)))
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, path.read_bytes())
    return buffer.getvalue()


# --------------------------------------------------------------------------- helpers


def _as_tuple(values: Iterable[str] | str | None) -> tuple[str, ...]:
    """A tuple of the values; one string is one value, not its letters."""
    if values is None:
        return ()
    if isinstance(values, str):
        return (values,)
    return tuple(values)


def _distinct(values: Iterable[str | None]) -> tuple[str, ...]:
    """The values that are set, each once, sorted."""
    return tuple(sorted({v for v in values if v}))
