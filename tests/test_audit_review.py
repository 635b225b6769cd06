"""The auditor's Audit page library (pipelines/audit_review.py): findings with filters, resolving
them, drift chart specs, cohort rows and the report download. A ledger of the sample archive
(ingest only: the pair checks against the baseline are written at ingest, no comparison is run)."""
from __future__ import annotations

import dataclasses
import datetime as dt
import io
import json
import sqlite3
import zipfile

import altair as alt
import pytest
from sqlalchemy import func, select

from photostation.errors import InputError
from photostation.ingest import ingest_archive
from photostation.ledger import CheckRecord, FlagResolution, Patient, Photo, StationProfile, Visit, open_ledger
from pipelines import audit_review
from pipelines.audit_records import AuditSummary, PairRow
from pipelines.audit_report import REPORT_FILES
from pipelines.audit_review import FlagFilter
from pipelines.audit_summary import audit_summary
from pipelines.drift import Observation, SPCSettings, control_chart

from .conftest import NOW, ROOT

P003_M6 = ("P003", "month-6")


@pytest.fixture(scope="module")
def base_ledger(tmp_path_factory, protocol):
    """The sample archive ingested once; station-1 has a calibration profile (so no flag at all)."""
    folder = tmp_path_factory.mktemp("audit-review")
    factory = open_ledger(str(folder / "base.db"))
    ingest_archive(ROOT / "sample_images", factory, protocol, now=NOW)
    with factory.begin() as session:
        session.add(StationProfile(station="station-1", valid_from=dt.date(2026, 1, 1), source="device-scale",
                                   mm_per_px=0.006))
    factory.kw["bind"].dispose()
    return folder / "base.db"


@pytest.fixture
def factory(base_ledger, tmp_path):
    """A private copy of the ingested ledger for one test."""
    copy = tmp_path / "ledger.db"
    source, target = sqlite3.connect(base_ledger), sqlite3.connect(copy)
    source.backup(target)
    source.close()
    target.close()
    factory = open_ledger(str(copy), create=False)
    yield factory
    factory.kw["bind"].dispose()


def visit_id(factory, patient: str, label: str) -> int:
    with factory() as session:
        return session.scalar(select(Visit.id).join(Patient).where(Patient.code == patient, Visit.label == label))


def photo_id(factory, relative_path: str) -> int:
    with factory() as session:
        return session.scalar(select(Photo.id).where(Photo.relative_path == relative_path))


def flagged_checks(factory, visit: int) -> int:
    """Warn/fail checks of a visit and of its photos."""
    with factory() as session:
        of_photos = session.scalar(select(func.count(CheckRecord.id)).join(Photo, Photo.id == CheckRecord.photo_id)
                                   .where(Photo.visit_id == visit, CheckRecord.status != "pass"))
        of_visit = session.scalar(select(func.count(CheckRecord.id)).where(CheckRecord.visit_id == visit,
                                                                           CheckRecord.status != "pass"))
    return of_photos + of_visit


def add_check(factory, *, name: str, status: str, message: str, photo: int | None = None,
              visit: int | None = None) -> None:
    """Flag a photo or visit: the stored check of that name says so (added when there is none)."""
    scope = "photo" if photo else "visit"
    with factory.begin() as session:
        check = session.scalar(select(CheckRecord).where(CheckRecord.photo_id == photo, CheckRecord.visit_id == visit,
                                                         CheckRecord.scope == scope, CheckRecord.name == name))
        if check is None:
            session.add(CheckRecord(scope=scope, photo_id=photo, visit_id=visit, name=name, status=status, value=None,
                                    limit=None, message=message))
        else:
            check.status, check.message = status, message


def one(rows, rule: str, status: str | None = None):
    (row,) = [r for r in rows if r.rule == rule and (status is None or r.status == status)]
    return row


# --------------------------------------------------------------------------- findings


def test_the_drifted_month6_visit_is_one_row_per_finding_with_its_views(factory):
    month6 = visit_id(factory, *P003_M6)
    rows = [r for r in audit_review.flag_rows(factory) if r.visit_id == month6]
    # 25 flagged checks on the visit and its three photos, 9 findings
    assert flagged_checks(factory, month6) > len(rows) > 0
    assert sum(r.checks for r in rows) == flagged_checks(factory, month6)
    assert len({r.key for r in rows}) == len(rows)
    iso = one(rows, "camera.iso")
    assert iso.status == "fail" and iso.patient == "P003" and iso.visit == "month-6"
    assert iso.views == ("tricho-midscalp", "tricho-vertex", "vertex") and iso.photo_count == 3
    assert iso.photo_ids == tuple(photo_id(factory, f"P003/month-6/{v}.jpg") for v in iso.views)
    assert iso.photos == tuple(f"P003/month-6/{v}.jpg" for v in iso.views)
    assert iso.visit_date == dt.date(2026, 10, 18) and iso.station == "station-2" and iso.operator == "op-ben"
    assert iso.state == "open" and iso.resolved_by is None and not iso.reopened
    assert "ISO 400" in iso.message
    # the same rule with another status is another finding
    assert one(rows, "camera.exposure_time_s", "fail").views == ("vertex",)
    assert one(rows, "camera.exposure_time_s", "warn").views == ("tricho-midscalp", "tricho-vertex")
    # the visit's own check joins the photos' checks of the same rule and status
    window = one(rows, "schedule.window")
    assert window.whole_visit and window.checks == 4 and window.photo_count == 3
    # two camera bodies: one finding, both messages kept, the more frequent one first
    serial = one(rows, "camera.serial")
    assert len(serial.messages) == 2 and serial.message == serial.messages[0] and "MC1000S" in serial.message


def test_rows_are_worst_first_then_newest(factory):
    p001_baseline = visit_id(factory, "P001", "baseline")
    add_check(factory, visit=p001_baseline, name="visit.views", status="fail", message="no mid-scalp view")
    rows = audit_review.flag_rows(factory)
    statuses = [r.status for r in rows]
    assert statuses == sorted(statuses, key=("fail", "warn").index)
    fails = [r for r in rows if r.status == "fail"]
    assert fails[-1].rule == "visit.views" and fails[-1].last_date == dt.date(2026, 2, 2)
    assert [r.last_date for r in fails] == sorted((r.last_date for r in fails), reverse=True)


def test_the_archive_findings_that_are_not_checks_are_rows(factory):
    rows = audit_review.flag_rows(factory)
    (station,) = [r for r in rows if r.rule == "archive.station-without-profile"]
    assert station.key == "archive/station-without-profile/station-2" and station.status == "warn"
    assert station.stations == ("station-2",) and station.photo_count == 9 and station.visit is None
    assert station.first_date == dt.date(2026, 2, 16) and station.last_date == dt.date(2026, 10, 18)
    # the audit summary's findings that are checks (missing baseline, ...) are not doubled
    assert not [r for r in rows if r.rule.startswith("archive.") and r.rule != "archive.station-without-profile"]


def test_a_photo_stored_twice_is_one_failed_finding_across_its_visits(factory):
    with factory.begin() as session:
        baseline, month6 = (session.scalar(select(Photo).where(Photo.relative_path == f"P001/{v}/vertex.jpg"))
                            for v in ("baseline", "month-6"))
        month6.digest = baseline.digest  # the baseline photo copied into the month-6 visit
        digest = baseline.digest
    row = one(audit_review.flag_rows(factory), "archive.duplicate")
    assert row.key == f"archive/duplicate/{digest}" and row.status == "fail" and row.patient == "P001"
    assert row.photos == ("P001/baseline/vertex.jpg", "P001/month-6/vertex.jpg") and row.visit is None
    assert audit_review.resolve_flag(factory, row.key, "AB", "re-shot on 2026-08-12").state == "resolved"


@pytest.fixture
def more_flags(factory):
    """Two flags beside P003's: a warning of a station-1 photo in August, a failure of a
    station-2 visit in February."""
    add_check(factory, photo=photo_id(factory, "P001/month-6/vertex.jpg"), name="focus.sharpness", status="warn",
              message="blurred")
    add_check(factory, visit=visit_id(factory, "P002", "baseline"), name="visit.views", status="fail",
              message="no mid-scalp view")
    return factory


def keys(factory, **filters) -> set[str]:
    return {r.key for r in audit_review.flag_rows(factory, FlagFilter(**filters))}


def test_each_filter_narrows_the_list(more_flags):
    factory = more_flags
    everything = audit_review.flag_rows(factory)
    focus = one(everything, "focus.sharpness").key
    views = one(everything, "visit.views").key
    station2 = "archive/station-without-profile/station-2"
    assert keys(factory) == {r.key for r in everything} and len(everything) == 12
    assert keys(factory, stations=("station-1",)) == {focus}
    assert keys(factory, stations=("station-2",)) == {r.key for r in everything} - {focus}
    assert keys(factory, operators=("op-anna",)) == {focus}
    assert keys(factory, rules=("camera.iso",)) == {one(everything, "camera.iso").key}
    assert keys(factory, statuses=("warn",)) == {r.key for r in everything if r.status == "warn"}
    assert keys(factory, statuses=("fail",)) == {r.key for r in everything if r.status == "fail"} and \
        views in keys(factory, statuses=("fail",))
    # the period: the capture date of a photo, else the visit's date; a finding over months
    # (the station without a profile) is in every period it overlaps
    assert keys(factory, start=dt.date(2026, 8, 1), end=dt.date(2026, 8, 31)) == {focus, station2}
    assert keys(factory, start=dt.date(2026, 2, 1), end=dt.date(2026, 2, 28)) == {views, station2}
    assert keys(factory, start=dt.date(2026, 10, 18)) == {r.key for r in everything} - {focus, views}
    assert keys(factory, end=dt.date(2026, 1, 31)) == set()
    assert keys(factory, stations=("station-2",), statuses=("fail",), rules=("camera.iso", "visit.views")) == \
        {one(everything, "camera.iso").key, views}
    assert keys(factory, stations="station-1") == {focus}  # one name, not its letters


@pytest.mark.parametrize("bad, message", [
    (dict(statuses=("pass",)), "status must be fail or warn"),
    (dict(state="closed"), "state must be one of"),
    (dict(start=dt.date(2026, 3, 1), end=dt.date(2026, 2, 1)), "starts"),
])
def test_a_bad_filter_is_refused(bad, message):
    with pytest.raises(InputError, match=message):
        FlagFilter(**bad)


def test_filter_options_list_every_station_including_one_without_flags(factory):
    options = audit_review.filter_options(factory)
    assert options.stations == ("station-1", "station-2")
    assert audit_review.flag_rows(factory, FlagFilter(stations=("station-1",))) == []
    assert options.operators == ("op-anna", "op-ben")
    assert {"camera.iso", "schedule.window", "archive.station-without-profile"} <= set(options.rules)
    assert "exposure.level" not in options.rules  # passed everywhere: nothing to filter for
    assert (options.first_date, options.last_date) == (dt.date(2026, 2, 2), dt.date(2026, 10, 18))
    with factory.begin() as session:
        session.add(StationProfile(station="station-3", valid_from=dt.date(2026, 11, 1), source="device-scale",
                                   mm_per_px=0.006))
    assert audit_review.filter_options(factory).stations == ("station-1", "station-2", "station-3")


# --------------------------------------------------------------------------- resolving


def resolutions(factory) -> int:
    with factory() as session:
        return session.scalar(select(func.count(FlagResolution.id)))


def test_resolving_a_finding_resolves_all_its_checks_once(factory):
    iso = one(audit_review.flag_rows(factory), "camera.iso")
    row = audit_review.resolve_flag(factory, iso.key, "  AB ", "ISO set back to 100 on station-2 since")
    assert row.key == iso.key and row.state == "resolved" and not row.reopened
    assert (row.resolved_by, row.resolution_note) == ("AB", "ISO set back to 100 on station-2 since")
    assert isinstance(row.resolved_at, dt.datetime)
    assert resolutions(factory) == 3  # one per photo's check
    assert one(audit_review.flag_rows(factory), "camera.iso").state == "resolved"
    assert keys(factory, state="resolved") == {iso.key}
    open_keys = keys(factory, state="open")
    assert iso.key not in open_keys and len(open_keys) == len(audit_review.flag_rows(factory)) - 1
    with pytest.raises(InputError, match="already resolved by AB"):
        audit_review.resolve_flag(factory, iso.key, "CD", "again")
    with pytest.raises(InputError, match="no finding 'visit/999/fail/camera.iso'"):
        audit_review.resolve_flag(factory, "visit/999/fail/camera.iso", "AB", "typo")
    assert resolutions(factory) == 3


@pytest.mark.parametrize("reviewer, note, message", [
    ("", "fine", "reviewer"), ("AB", "   ", "note"), ("A" * 201, "fine", "at most 200"),
    ("AB", "n" * 2001, "at most 2000"),
])
def test_resolving_needs_a_reviewer_and_a_note(factory, reviewer, note, message):
    key = one(audit_review.flag_rows(factory), "camera.iso").key
    with pytest.raises(InputError, match=message):
        audit_review.resolve_flag(factory, key, reviewer, note)
    assert resolutions(factory) == 0


def test_a_check_that_changes_after_resolution_opens_the_finding_again(factory):
    key = one(audit_review.flag_rows(factory), "camera.iso").key
    audit_review.resolve_flag(factory, key, "AB", "checked with the photographer")
    with factory.begin() as session:
        check = session.scalar(select(CheckRecord).where(
            CheckRecord.photo_id == photo_id(factory, "P003/month-6/vertex.jpg"), CheckRecord.name == "camera.iso"))
        check.message = "ISO 800 vs baseline 100 (3.00 stops more): set it back to 100"
    row = one(audit_review.flag_rows(factory), "camera.iso")
    assert row.key == key and row.state == "open" and row.reopened and row.resolved_by == "AB"
    assert keys(factory, state="resolved") == set()
    again = audit_review.resolve_flag(factory, key, "CD", "ISO 800 was a test shot")
    assert again.state == "resolved" and again.resolved_by == "CD" and resolutions(factory) == 6


def test_a_check_joining_a_resolved_finding_opens_it_again(factory):
    key = one(audit_review.flag_rows(factory), "camera.iso").key
    audit_review.resolve_flag(factory, key, "AB", "known")
    add_check(factory, visit=visit_id(factory, *P003_M6), name="camera.iso", status="fail", message="ISO changed")
    row = one(audit_review.flag_rows(factory), "camera.iso")
    assert row.state == "open" and row.reopened and row.whole_visit and row.checks == 4


def test_an_archive_finding_is_resolved_photo_by_photo(factory):
    key = "archive/station-without-profile/station-2"
    row = audit_review.resolve_flag(factory, key, "AB", "profile booked for December")
    assert row.state == "resolved" and resolutions(factory) == 9
    with factory() as session:
        scopes = set(session.scalars(select(FlagResolution.scope)))
    assert scopes == {"archive"}


# --------------------------------------------------------------------------- summary: drift, cohort, report


@pytest.fixture(scope="module")
def summary(base_ledger, protocol):
    factory = open_ledger(str(base_ledger), create=False)
    try:
        return audit_summary(factory, protocol, generated_at=dt.datetime(2026, 11, 22, 12, 0))
    finally:
        factory.kw["bind"].dispose()


def test_drift_specs_are_vega_lite_with_the_photos_as_data(summary):
    charts = [c for c in summary.charts if (c.group_kind, c.group) == ("station", "station-1")]
    specs = audit_review.drift_chart_specs(summary, "station", "station-1")
    assert len(specs) == len(charts) > 0
    for (title, spec), chart in zip(specs, charts):
        json.dumps(spec, allow_nan=False)
        points = next(layer["data"]["values"] for layer in spec["layer"] if "photo" in layer["data"]["values"][0])
        assert [p["photo"] for p in points] == list(chart.photos) and len(points) == 9
        assert title.startswith("station station-1: ")
    for _, spec in specs[:2]:  # schema validation is slow (0.4 s a chart)
        alt.LayerChart.from_dict(spec)  # valid against the Vega-Lite schema


def test_drift_specs_filter_by_station_operator_and_measure(summary):
    anna = audit_review.drift_chart_specs(summary, "operator", "op-anna")
    assert anna and all(title.startswith("operator op-anna: ") for title, _ in anna)
    exposure = audit_review.drift_chart_specs(summary, "station", None, ("exposure",))
    assert [t for t, _ in exposure] == ["station station-1: exposure (EV)", "station station-2: exposure (EV)"]
    by_name = audit_review.drift_chart_specs(summary, "station", "station-2", ("colour_cast_mired", "sharpness"))
    assert [t for t, _ in by_name] == ["station station-2: colour cast (mired)", "station station-2: sharpness"]
    assert audit_review.drift_chart_specs(summary, "station", "station-9") == []
    with pytest.raises(InputError, match="unknown measure 'brightness'"):
        audit_review.drift_chart_specs(summary, measures=("brightness",))
    with pytest.raises(InputError, match="station or operator"):
        audit_review.drift_chart_specs(summary, "clinic")


def drifting_summary() -> AuditSummary:
    """Station s1's exposure jumps by 1 EV after 20 steady photos; operator op1's stays."""
    start = dt.datetime(2026, 3, 1, 9, 0)
    steady = [0.05 * ((i * 7) % 5 - 2) for i in range(30)]
    jumped = steady[:20] + [v + 1.0 for v in steady[20:]]

    def chart(kind, group, values):
        observations = [Observation(f"P{i:03d}/v/vertex.jpg", start + dt.timedelta(days=i), v)
                        for i, v in enumerate(values)]
        return control_chart(observations, SPCSettings(), group_kind=kind, group=group, quantity="exposure_ev",
                             unit="EV")

    charts = (chart("station", "s1", jumped), chart("operator", "op1", steady))
    pairs = (PairRow("P001", "vertex", "baseline", "month-6", "a", "b", "global", True, "improved", (), ()),
             PairRow("P002", "vertex", "baseline", "month-6", "c", "d", "global", True, "improved", (), ()),
             PairRow("P003", "vertex", "baseline", "month-6", "e", "f", None, False, None, ("too blurred",), ()))
    return AuditSummary(generated_at=dt.datetime(2026, 11, 22, 12, 0), protocol="test v1", patients=3, photos=30,
                        pairs=pairs, checks=(), findings=(), charts=charts,
                        events=tuple(e for c in charts for e in c.events))


def test_drift_events_as_rows_with_their_dates():
    summary = drifting_summary()
    assert summary.events  # the jump is found
    rows = audit_review.drift_event_rows(summary)
    assert len(rows) == len(summary.events)
    first = rows[0]
    assert (first["kind"], first["group"], first["measure"], first["direction"]) == \
        ("station", "s1", "exposure (EV)", "up")
    assert first["detected"] >= first["since"] >= dt.datetime(2026, 3, 21)
    assert first["size"] == pytest.approx(1.0, abs=0.2) and first["photos"] == len(first["affected_photos"]) > 1
    assert audit_review.drift_event_rows(summary, "operator") == []
    assert audit_review.drift_event_rows(summary, measures=("angle",)) == []
    (title, spec), = audit_review.drift_chart_specs(summary, "station", "s1")
    assert "drift event" in title
    bands = [layer for layer in spec["layer"] if layer["mark"]["type"] == "rect"]
    assert bands and bands[0]["data"]["values"][0]["start"].startswith("2026-03-2")


def test_cohort_rows_count_outcomes_and_reasons():
    rows = audit_review.cohort_rows(drifting_summary())
    table = {(r["section"], r["what"]): (r["pairs"], r["share_pct"]) for r in rows}
    assert table[("all", "Pairs")] == (3, 100.0)
    assert table[("outcome", "Improved")] == (2, 66.7)
    assert table[("outcome", "Worse")] == (0, 0.0)
    assert table[("outcome", "Not comparable")] == (1, 33.3)
    assert table[("not comparable because", "too blurred")] == (1, 33.3)
    assert rows[-1]["section"] == "not comparable because"


def test_report_zip_holds_the_html_csv_and_json_report(summary):
    summary = dataclasses.replace(summary, charts=summary.charts[:2])  # drawing 32 charts takes seconds
    data = audit_review.report_zip(summary)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.namelist() == list(REPORT_FILES)
        html = archive.read("report.html")
        checks = archive.read("checks.csv").decode("utf-8").splitlines()
        record = json.loads(archive.read("audit.json"))
    assert html.startswith(b"<!DOCTYPE html>") and b"vegaEmbed" in html
    assert html == audit_review.report_html(summary)
    assert checks[0].startswith("patient,visit,view,photo,scope,name,status")
    assert len(checks) == len(summary.checks) + 1
    assert record["photos"] == 18
    assert audit_review.report_zip(summary) == data  # the same summary, the same bytes
