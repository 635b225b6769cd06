"""Read an audited ledger back as the month-6 report's records
(:class:`pipelines.audit_records.AuditSummary`): the pairs, every check, the archive's
findings, and the drift control charts of every station and operator.

Drift quantities, per photo in capture order (photos without a capture time are left out of
the charts):

- of every photo: exposure (EV, from the scalp highlights' L*), colour cast (mired), sharpness,
  lighting uniformity, and the camera's ISO, shutter and aperture (in stops) and focal length;
- of every follow-up against its baseline: exposure difference (EV), white-balance shift
  (mired), focus ratio, scale difference (%: the camera moved closer or further), roll and
  tilt (degrees).
"""
from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from photostation.ledger import CheckRecord, ComparisonRecord, Patient, Photo, StationProfile, Visit
from photostation.protocol import Protocol
from pipelines.audit import lightness_to_ev, photo_time
from pipelines.audit_records import AuditSummary, CheckRow, Finding, PairRow, finite_number
from pipelines.drift import ControlChart, Observation, SPCSettings, control_chart

# check name -> (quantity, unit, transform of the stored value)
PHOTO_QUANTITIES: dict[str, tuple[str, str, Any]] = {
    "exposure.level": ("exposure_ev", "EV", lightness_to_ev),
    "white_balance.cast_mired": ("colour_cast_mired", "mired", float),
    "focus.sharpness": ("sharpness", "", float),
    "lighting.uniformity": ("lighting_uniformity", "ratio", float),
}
PAIR_QUANTITIES: dict[str, tuple[str, str, Any]] = {
    "exposure.difference_ev": ("exposure_difference_ev", "EV", float),
    "white_balance.shift_mired": ("white_balance_shift_mired", "mired", float),
    "focus.ratio": ("focus_ratio", "ratio", float),
    "pose.scale_pct": ("scale_difference_pct", "%", float),
    "pose.roll_deg": ("roll_deg", "deg", float),
    "pose.tilt_deg": ("tilt_deg", "deg", float),
}


def _stops(value: Any, reference: float) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return math.log2(number / reference) if number > 0 else None


# metadata key -> (quantity, unit, transform)
CAMERA_QUANTITIES: dict[str, tuple[str, str, Any]] = {
    "iso": ("iso_stops", "stops from ISO 100", lambda v: _stops(v, 100.0)),
    "exposure_time_s": ("shutter_stops", "stops from 1/125 s", lambda v: _stops(v, 1 / 125)),
    "f_number": ("aperture_stops", "stops from f/8", lambda v: None if _stops(v, 8.0) is None else 2 * _stops(v, 8.0)),
    "focal_length_mm": ("focal_length_mm", "mm", lambda v: None if v is None else float(v)),
}


def settings_from(protocol: Protocol) -> SPCSettings:
    d = protocol.audit.drift
    return SPCSettings(reference_photos=d.reference_photos, min_photos=d.min_photos, shewhart_sigma=d.shewhart_sigma,
                       ewma_lambda=d.ewma_lambda, ewma_sigma=d.ewma_sigma, shewhart_min_run=d.shewhart_min_run)


def _pair_row(record: ComparisonRecord, base: Photo, follow: Photo) -> PairRow:
    data = record.result or {}
    change = data.get("change") or {}
    b, f = data.get("baseline") or {}, data.get("followup") or {}
    flags = tuple(data.get("flags") or ())
    reasons: tuple[str, ...] = ()
    if record.error:
        reasons = (f"the comparison could not run: {record.error}",)
    elif not record.comparable:
        # The flags that block a comparison: a failed check's, the registration's, or a region
        # without hair; the others (no scale, a warning) are shown as flags only.
        failed = {c["name"] for c in data.get("checks") or () if c.get("status") == "fail"}
        reasons = tuple(flag for flag in flags if flag.split(":", 1)[0] in failed | {"registration"}
                        or (flag.startswith("coverage:") and "no hair strands" in flag)) or ("not comparable",)

    def interval(key: str) -> tuple[float, float] | None:
        pair = change.get(key)
        return (pair[0], pair[1]) if pair and None not in pair else None

    scale = data.get("scale") or {}
    return PairRow(
        patient=follow.visit.patient.code, view=follow.view, baseline_visit=base.visit.label,
        followup_visit=follow.visit.label, baseline_photo=base.relative_path, followup_photo=follow.relative_path,
        kind=record.kind, comparable=bool(record.comparable), outcome=record.outcome, reasons=reasons, flags=flags,
        density_baseline_per_cm2=finite_number(b.get("density_per_cm2")),
        density_followup_per_cm2=finite_number(f.get("density_per_cm2")),
        density_change_per_cm2=finite_number(change.get("density_per_cm2")),
        density_ci95_per_cm2=interval("ci95_density_per_cm2"),
        coverage_baseline_pct=finite_number(b.get("coverage_pct")), coverage_followup_pct=finite_number(f.get("coverage_pct")),
        coverage_change_pts=finite_number(change.get("coverage_pct_points")),
        coverage_ci95_pts=interval("ci95_coverage_pct_points"),
        mm_per_px=finite_number(scale.get("mm_per_px")), scale_source=scale.get("source"),
        thumbnails={k: v for k, v in (("baseline", record.thumbnail_baseline),
                                      ("followup", record.thumbnail_followup)) if v})


def _check_rows(session: Session, photos: dict[int, Photo]) -> list[CheckRow]:
    rows = []
    for record in session.scalars(select(CheckRecord).order_by(CheckRecord.id)):
        if record.photo_id is not None:
            photo = photos.get(record.photo_id)
            if photo is None:
                continue
            visit, view, path = photo.visit, photo.view, photo.relative_path
            station, operator, captured = photo.station, photo.operator, photo.captured_at
        else:
            visit = session.get(Visit, record.visit_id)
            if visit is None:
                continue
            view, path, station, operator, captured = None, None, visit.station, visit.operator, None
        rows.append(CheckRow(patient=visit.patient.code, visit=visit.label, view=view, photo=path,
                             scope=record.scope, name=record.name, status=record.status, value=record.value,
                             limit=record.limit, message=record.message, station=station, operator=operator,
                             captured_at=captured))
    return rows


def _findings(session: Session, photos: dict[int, Photo], checks: list[CheckRow]) -> list[Finding]:
    """Problems of the archive, one per problem (not one per rule and photo)."""
    findings: list[Finding] = []
    by_name: dict[str, list[CheckRow]] = defaultdict(list)
    for row in checks:
        if row.status != "pass":
            by_name[row.name].append(row)
    for row in by_name.get("visit.baseline", []):
        findings.append(Finding("missing-baseline", row.message, row.patient))
    for row in by_name.get("visit.views", []):
        findings.append(Finding("missing-views", f"{row.visit}: {row.message}", row.patient))
    for name, kind in (("file.readable", "unreadable"), ("file.decodable", "unreadable"),
                       ("integrity.digest", "changed-after-ingest"), ("integrity.present", "missing-file"),
                       ("compare.run", "comparison-failed")):
        for row in by_name.get(name, []):
            findings.append(Finding(kind, row.message, row.patient, (row.photo,) if row.photo else ()))
    clock = [row for row in checks if row.name.startswith("timestamp.") and row.status == "fail"]
    for row in clock:
        findings.append(Finding("timestamp", f"{row.name}: {row.message}", row.patient,
                                (row.photo,) if row.photo else ()))
    by_digest: dict[str, list[Photo]] = defaultdict(list)
    for photo in photos.values():
        by_digest[photo.digest].append(photo)
    for same in by_digest.values():
        if len(same) > 1:
            paths = tuple(sorted(p.relative_path for p in same))
            findings.append(Finding("duplicate", f"{len(same)} photos are the same file: only one of them was "
                                    f"taken at that visit", same[0].visit.patient.code, paths))
    profiled = set(session.scalars(select(StationProfile.station)))
    unprofiled: dict[str, list[str]] = defaultdict(list)
    for photo in photos.values():
        if photo.station and photo.station not in profiled:
            unprofiled[photo.station].append(photo.relative_path)
    for station, paths in sorted(unprofiled.items()):
        findings.append(Finding("station-without-profile",
                                f"station {station} has no calibration profile: its photos are not colour "
                                f"corrected and take their scale from a card or the protocol only",
                                None, tuple(sorted(paths))))
    return findings


def _series(photos: Iterable[Photo], checks_by_photo: dict[int, dict[str, Any]]) -> dict[tuple[str, str, str, str],
                                                                                       list[Observation]]:
    """(group kind, group, quantity, unit) -> observations."""
    series: dict[tuple[str, str, str, str], list[Observation]] = defaultdict(list)
    for photo in photos:
        when = photo_time(photo)
        if when is None:
            continue
        values: list[tuple[str, str, float | None]] = []
        stored = checks_by_photo.get(photo.id, {})
        for name, (quantity, unit, transform) in (PHOTO_QUANTITIES | PAIR_QUANTITIES).items():
            if name in stored and stored[name] is not None:
                try:
                    values.append((quantity, unit, transform(stored[name])))
                except (TypeError, ValueError):
                    continue
        meta = photo.metadata_json or {}
        for key, (quantity, unit, transform) in CAMERA_QUANTITIES.items():
            values.append((quantity, unit, transform(meta.get(key))))
        for group_kind, group in (("station", photo.station), ("operator", photo.operator)):
            if not group:
                continue
            for quantity, unit, value in values:
                if value is not None and math.isfinite(value):
                    series[(group_kind, group, quantity, unit)].append(Observation(photo.relative_path, when, value))
    return series


def drift_charts(session: Session, photos: dict[int, Photo], settings: SPCSettings) -> list[ControlChart]:
    checks_by_photo: dict[int, dict[str, Any]] = defaultdict(dict)
    names = set(PHOTO_QUANTITIES) | set(PAIR_QUANTITIES)
    for photo_id, name, value in session.execute(
            select(CheckRecord.photo_id, CheckRecord.name, CheckRecord.value).where(CheckRecord.name.in_(names))):
        checks_by_photo[photo_id][name] = value
    charts = []
    for (group_kind, group, quantity, unit), observations in sorted(_series(photos.values(), checks_by_photo).items()):
        charts.append(control_chart(observations, settings, group_kind=group_kind, group=group, quantity=quantity,
                                    unit=unit))
    return charts


def audit_summary(factory: sessionmaker[Session], protocol: Protocol,
                  generated_at: dt.datetime | None = None) -> AuditSummary:
    """Everything the month-6 report shows, read from the ledger."""
    with factory() as session:
        photos = {p.id: p for p in session.scalars(select(Photo).join(Visit).join(Patient)
                                                   .order_by(Patient.code, Visit.label, Photo.view))}
        pairs = []
        for record in session.scalars(select(ComparisonRecord)):
            base, follow = photos.get(record.baseline_photo_id), photos.get(record.followup_photo_id)
            if base is not None and follow is not None:
                pairs.append(_pair_row(record, base, follow))
        pairs.sort(key=lambda p: (p.patient, p.followup_visit, p.view))
        checks = _check_rows(session, photos)
        findings = _findings(session, photos, checks)
        charts = drift_charts(session, photos, settings_from(protocol))
        patients = len({p.visit.patient_id for p in photos.values()})
    events = tuple(event for chart in charts for event in chart.events)
    return AuditSummary(generated_at=generated_at or dt.datetime.now(dt.timezone.utc),
                        protocol=f"{protocol.name} v{protocol.version}", patients=patients, photos=len(photos),
                        pairs=tuple(pairs), checks=tuple(checks), findings=tuple(findings), charts=tuple(charts),
                        events=events)
