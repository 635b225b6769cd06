"""The month-6 audit report writer (:mod:`pipelines.audit_report`) on a small hand-made audit."""
from __future__ import annotations

import base64
import csv
import dataclasses
import datetime as dt
import io
import json
import math
import os
import re

import numpy as np
import pytest
from PIL import Image

from pipelines import audit_report
from pipelines.audit_records import AuditSummary, CheckRow, Finding, PairRow
from pipelines.audit_report import REPORT_FILES, chart_spec, write_report
from pipelines.drift import ControlChart, DriftEvent

UTC = dt.timezone.utc
XSS = "<script>alert(1)</script>"
EVIL = f'P{XSS}&"q"'
T0 = dt.datetime(2026, 5, 4, 9, 0, tzinfo=UTC)


def _jpeg(colour: tuple[int, int, int], size: tuple[int, int] = (48, 32)) -> bytes:
    image = Image.new("RGB", size, colour)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=80)
    return buffer.getvalue()


def _pair(patient: str, view: str, **changes) -> PairRow:
    fields = dict(
        patient=patient, view=view, baseline_visit="v0", followup_visit="m6",
        baseline_photo=f"{patient}/v0/{view}.jpg", followup_photo=f"{patient}/m6/{view}.jpg",
        kind="trichoscopy", comparable=True, outcome="improved", reasons=(), flags=(),
        density_baseline_per_cm2=120.0, density_followup_per_cm2=131.5,
        density_change_per_cm2=11.5, density_ci95_per_cm2=(4.25, 18.75),
        coverage_baseline_pct=41.0, coverage_followup_pct=44.5, coverage_change_pts=3.5,
        coverage_ci95_pts=(1.0, 6.0), mm_per_px=0.0125, scale_source="card",
        thumbnails={"baseline": _jpeg((200, 150, 120)), "followup": _jpeg((180, 140, 110))})
    fields.update(changes)
    return PairRow(**fields)


def _pairs() -> tuple[PairRow, ...]:
    not_comparable = dict(kind=None, comparable=False, outcome=None,
                          density_baseline_per_cm2=None, density_followup_per_cm2=None,
                          density_change_per_cm2=None, density_ci95_per_cm2=None,
                          coverage_baseline_pct=None, coverage_followup_pct=None,
                          coverage_change_pts=None, coverage_ci95_pts=None, thumbnails={})
    return (
        _pair("P001", "crown"),
        _pair("P001", "hairline", outcome=None, flags=("low contrast", "hair < 2 mm")),
        _pair("P001", "vertex", outcome="stable", kind="global",
              coverage_change_pts=float("nan"), density_ci95_per_cm2=(float("-inf"), 3.0)),
        _pair(EVIL, "crown", **not_comparable,
              reasons=("scale differs by 12 %", f"angle {XSS}")),
        _pair("P003", "crown", **not_comparable, reasons=("scale differs by 12 %",)),
        _pair("P003", "vertex", outcome="improved", kind="global", density_change_per_cm2=-2.5,
              density_ci95_per_cm2=(-6.0, 1.0)),
    )


def _checks() -> tuple[CheckRow, ...]:
    base = dict(patient="P001", visit="m6", view="crown", photo="P001/m6/crown.jpg",
                scope="photo", station="S1", operator="op-a", captured_at="2026-11-02T10:00:00")
    return (
        CheckRow(**base, name="exposure", status="pass", value=0.1, limit=[-0.5, 0.5],
                 message="exposure within limits"),
        CheckRow(**base, name="focus", status="warn", value=float("inf"), limit={"min": 120},
                 message="focus soft"),
        CheckRow(**base, name="angle", status="fail", value=12.5, limit=8.0,
                 message=f"tilted {XSS}"),
        CheckRow(**{**base, "patient": EVIL, "photo": f"{EVIL}/m6/crown.jpg"}, name="colour",
                 status="warn", value=np.float64(3.5), limit=None, message="colour cast"),
        CheckRow(**{**base, "photo": None, "view": None, "scope": "visit"}, name="views",
                 status="fail", value=["crown"], limit=["crown", "vertex"],
                 message="vertex missing"),
    )


def _charts_and_events() -> tuple[tuple[ControlChart, ...], tuple[DriftEvent, ...]]:
    n = 14
    times = tuple(T0 + dt.timedelta(days=7 * i) for i in range(n))
    photos = tuple(f"P00{i % 3 + 1}/visit{i}/crown.jpg" for i in range(n))
    values = tuple([0.02, -0.05, 0.04, 0.0, -0.03, 0.05, -0.01, 0.03, -0.04, 0.01,
                    0.45, 0.5, 0.48, float("nan")])
    ewma, lower, upper, z = [], [], [], 0.0
    for i, v in enumerate(values):
        z = 0.2 * (v if math.isfinite(v) else z) + 0.8 * z
        width = 3 * 0.1 * math.sqrt(0.2 / 1.8 * (1 - 0.8 ** (2 * (i + 1))))
        ewma.append(z), lower.append(-width), upper.append(width)
    event = DriftEvent(group_kind="station", group="S1", quantity="exposure_ev", unit="EV",
                       rule="shewhart", direction="up", since=times[10], detected_at=times[10],
                       size=0.477, size_sigma=4.77, photos=photos[10:13])
    with_limits = ControlChart(
        group_kind="station", group="S1", quantity="exposure_ev", unit="EV", photos=photos,
        taken_at=times, values=values, centre=0.002, sigma=0.1, reference_end=times[9],
        lower_limit=-0.298, upper_limit=0.302, ewma=tuple(ewma), ewma_lower=tuple(lower),
        ewma_upper=tuple(upper), events=(event,))
    with_note = ControlChart(
        group_kind="operator", group="op<b>", quantity="roll_deg", unit="deg",
        photos=photos[:5], taken_at=times[:5], values=(0.5, 1.0, -0.5, 0.2, 0.1), centre=None,
        sigma=None, reference_end=None, lower_limit=None, upper_limit=None, ewma=(),
        ewma_lower=(), ewma_upper=(), events=(), note="only 5 photos in the reference period (8 needed)")
    return (with_limits, with_note), (event,)


@pytest.fixture(scope="module")
def summary() -> AuditSummary:
    charts, events = _charts_and_events()
    return AuditSummary(
        generated_at=dt.datetime(2026, 11, 22, 12, 0, tzinfo=UTC), protocol="scalp-v2 (2.1)",
        patients=3, photos=17, pairs=_pairs(), checks=_checks(),
        findings=(Finding(kind="missing-baseline", message=f"no baseline {XSS} & more",
                          patient="P003", photos=("P003/m6/temple.jpg", "P003/m6/nape.jpg")),),
        charts=charts, events=events)


@pytest.fixture(scope="module")
def written(summary, tmp_path_factory):
    out = tmp_path_factory.mktemp("audit") / "report"  # does not exist yet
    return out, write_report(summary, out)


@pytest.fixture(scope="module")
def page(written) -> str:
    return (written[0] / "report.html").read_text(encoding="utf-8")


def _without_bundle(page: str) -> str:
    match = re.search(r'<script id="vega-bundle">.*?</script>', page, flags=re.S)
    assert match is not None
    return page[:match.start()] + page[match.end():]


def _read_csv(path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_writes_the_five_files_and_returns_them(written):
    out, paths = written
    assert paths == [out / name for name in REPORT_FILES]
    assert all(p.is_file() and p.stat().st_size > 0 for p in paths)
    assert sorted(os.listdir(out)) == sorted(REPORT_FILES)


def test_html_is_self_contained(page):
    assert page.lower().count("<script") == 1 + 2  # the bundle, then one per chart
    assert "<script src" not in page.lower()
    assert "<link" not in page.lower()
    assert "@import" not in page and "url(" not in _without_bundle(page)
    rest = _without_bundle(page)
    assert "http://" not in rest and "https://" not in rest
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", page, flags=re.I)


def test_vega_javascript_is_embedded_once_and_each_chart_has_its_embed_call(page, summary):
    assert page.count("window.vegaEmbed=") == 1
    assert len(audit_report._vega_bundle()) > 100_000
    assert page.count(audit_report._vega_bundle()[:200]) == 1
    assert len(re.findall(r'<div class="chart" id="chart-\d+"></div>', page)) == len(summary.charts)
    assert re.findall(r'vegaEmbed\("#(chart-\d+)"', page) == ["chart-0", "chart-1"]


def test_html_names_patients_counts_and_sections(page):
    for code in ("P001", "P003", "P&lt;script&gt;alert(1)&lt;/script&gt;&amp;&quot;q&quot;"):
        assert f"<h3>Patient {code}</h3>" in page
    assert "scalp-v2 (2.1)" in page and "2026-11-22 12:00:00+00:00" in page
    header = dict(re.findall(r'<span class="n" data-key="(\w+)">(\d+)</span>', page))
    assert header == {"patients": "3", "photos": "17", "pairs": "6"}
    cohort = dict(re.findall(r'<td class="num" data-key="(\w+)">(\d+)</td>', page))
    assert cohort == {"pairs": "6", "improved": "2", "stable": "1", "worse": "0",
                      "not_comparable": "2", "no_outcome": "1"}
    reasons = re.search(r"Why pairs were not comparable.*?</table>", page, flags=re.S).group(0)
    assert re.search(r"<td>scale differs by 12 %</td><td><span class=\"num\">2</span>", reasons)
    assert "angle &lt;script&gt;" in reasons
    assert "+11.5 [+4.2, +18.8]" in page
    assert "No outcome (unsure or inconclusive)" in page
    assert "No limits: only 5 photos in the reference period (8 needed)" in page
    assert page.index('class="status fail"') < page.index('class="status warn"')


def test_flagged_photos_are_warn_and_fail_only_fails_first(page):
    flagged = re.search(r'<table class="flagged">.*?</table>', page, flags=re.S).group(0)
    statuses = re.findall(r'<span class="status (\w+)">', flagged)
    assert statuses == ["fail", "fail", "warn", "warn"]
    assert "exposure within limits" not in page
    assert "(whole visit)" in flagged and "vertex missing" in flagged


def test_thumbnails_are_embedded_jpeg_data_uris(page):
    uris = re.findall(r'src="data:image/jpeg;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(uris) == 2 * 4  # four pairs have thumbnails
    image = Image.open(io.BytesIO(base64.b64decode(uris[0])))
    assert image.format == "JPEG" and image.size == (48, 32)
    assert _without_bundle(page).count("<img") == len(uris)


def test_user_text_is_escaped_never_raw(written, page):
    assert XSS not in page
    assert "alert(1)" in page  # it is there, escaped
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "P&lt;script&gt;alert(1)&lt;/script&gt;&amp;&quot;q&quot;" in page
    assert "op&lt;b&gt;" in page and "op<b>" not in page
    # Inside a chart spec (the chart title names the operator) as JSON \u escapes.
    assert "operator op\\u003cb\\u003e: roll_deg" in page


def test_chart_specs_compile_and_mark_the_event(summary):
    import vl_convert

    with_limits, with_note = summary.charts
    spec = chart_spec(with_limits)
    text = json.dumps(spec)
    assert "NaN" not in text and "$schema" not in text
    marks = [layer["mark"]["type"] for layer in spec["layer"]]
    assert marks.count("rule") == 3 and "rect" in marks and "area" in marks
    rects = [layer for layer in spec["layer"] if layer["mark"]["type"] == "rect"]
    band = rects[0]["data"]["values"][0]
    assert band["start"] == with_limits.taken_at[10].isoformat()
    assert band["end"] == with_limits.taken_at[12].isoformat()
    note_spec = chart_spec(with_note)
    assert [layer["mark"]["type"] for layer in note_spec["layer"]] == ["line", "circle"]
    assert any("only 5 photos" in s for s in note_spec["title"]["subtitle"])
    version = "_".join(audit_report.alt.SCHEMA_VERSION.split(".")[:2])
    for s in (spec, note_spec):
        svg = vl_convert.vegalite_to_svg(s, vl_version=version)
        assert svg.startswith("<svg") and "<path" in svg
    assert "#d62728" in vl_convert.vegalite_to_svg(spec, vl_version=version)


def test_pairs_csv_one_row_per_pair(written, summary):
    rows = _read_csv(written[0] / "pairs.csv")
    assert len(rows) == len(summary.pairs)
    assert list(rows[0]) == list(audit_report._PAIR_CSV_COLUMNS)
    assert "thumbnails" not in rows[0] and "density_ci95_per_cm2" not in rows[0]
    first, evil, last = rows[0], rows[3], rows[5]
    assert first["patient"] == "P001" and first["comparable"] == "true"
    assert first["density_ci95_low_per_cm2"] == "4.25"
    assert first["density_ci95_high_per_cm2"] == "18.75"
    assert first["flags"] == "" and rows[1]["flags"] == "low contrast | hair < 2 mm"
    assert evil["patient"] == EVIL and evil["comparable"] == "false"
    assert evil["reasons"] == f"scale differs by 12 % | angle {XSS}"
    assert evil["kind"] == "" and evil["density_change_per_cm2"] == ""
    assert last["density_change_per_cm2"] == "-2.5" and last["mm_per_px"] == "0.0125"
    assert rows[2]["coverage_change_pts"] == "" and rows[2]["density_ci95_low_per_cm2"] == ""


def test_checks_and_drift_csv(written, summary):
    checks = _read_csv(written[0] / "checks.csv")
    assert len(checks) == len(summary.checks) == 5
    assert checks[0]["value"] == "0.1" and json.loads(checks[0]["limit"]) == [-0.5, 0.5]
    assert checks[1]["value"] == "null" and json.loads(checks[1]["limit"]) == {"min": 120}
    assert checks[3]["value"] == "3.5" and checks[3]["limit"] == "null"
    assert checks[4]["photo"] == "" and json.loads(checks[4]["value"]) == ["crown"]
    drift = _read_csv(written[0] / "drift.csv")
    assert len(drift) == len(summary.events) == 1
    event = summary.events[0]
    assert drift[0]["photos_count"] == "3"
    assert drift[0]["photos"] == " | ".join(event.photos)
    assert drift[0]["since"] == event.since.isoformat() and drift[0]["size_sigma"] == "4.77"


def test_audit_json_matches(written, summary):
    data = json.loads((written[0] / "audit.json").read_text(encoding="utf-8"))
    assert data["generated_at"] == "2026-11-22T12:00:00+00:00"
    assert (data["protocol"], data["patients"], data["photos"]) == ("scalp-v2 (2.1)", 3, 17)
    cohort = data["cohort"]
    assert {k: cohort[k] for k in ("pairs", "improved", "stable", "worse", "not_comparable",
                                   "no_outcome")} == {"pairs": 6, "improved": 2, "stable": 1,
                                                      "worse": 0, "not_comparable": 2,
                                                      "no_outcome": 1}
    assert cohort["not_comparable_reasons"][0] == {"reason": "scale differs by 12 %", "pairs": 2}
    assert len(data["pairs"]) == 6 and len(data["checks"]) == 5 and len(data["findings"]) == 1
    assert all("thumbnails" not in p for p in data["pairs"])
    assert data["pairs"][0]["density_ci95_per_cm2"] == [4.25, 18.75]
    assert data["drift_events"][0]["photos_count"] == 3
    charts = data["charts"]
    assert [c["quantity"] for c in charts] == ["exposure_ev", "roll_deg"]
    assert charts[0]["limits"] == {"lower": -0.298, "upper": 0.302}
    assert charts[1]["limits"] == {"lower": None, "upper": None} and charts[1]["note"]
    assert len(charts[0]["points"]) == 14 and charts[0]["points"][10]["drift"] is True
    assert b"base64" not in (written[0] / "audit.json").read_bytes()


def test_non_finite_numbers_become_null(written):
    data = json.loads((written[0] / "audit.json").read_text(encoding="utf-8"))
    assert data["pairs"][2]["coverage_change_pts"] is None
    assert data["pairs"][2]["density_ci95_per_cm2"] == [None, 3.0]
    assert data["checks"][1]["value"] is None
    assert data["charts"][0]["points"][13]["value"] is None
    text = (written[0] / "audit.json").read_text(encoding="utf-8")
    assert "NaN" not in text and "Infinity" not in text


def test_rerun_replaces_files_and_leaves_no_temporary_files(summary, tmp_path):
    write_report(summary, tmp_path)
    before = (tmp_path / "audit.json").stat().st_ino
    changed = dataclasses.replace(summary, protocol="scalp-v3", pairs=summary.pairs[:2])
    paths = write_report(changed, tmp_path)
    assert sorted(os.listdir(tmp_path)) == sorted(REPORT_FILES)
    assert (tmp_path / "audit.json").stat().st_ino != before
    assert json.loads(paths[-1].read_text())["protocol"] == "scalp-v3"
    assert len(_read_csv(tmp_path / "pairs.csv")) == 2
    assert "scalp-v3" in paths[0].read_text(encoding="utf-8")


def test_a_failed_write_leaves_the_old_file_and_no_temporary(summary, tmp_path, monkeypatch):
    write_report(summary, tmp_path)
    old = (tmp_path / "report.html").read_bytes()

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        write_report(dataclasses.replace(summary, protocol="other"), tmp_path)
    assert sorted(os.listdir(tmp_path)) == sorted(REPORT_FILES)
    assert (tmp_path / "report.html").read_bytes() == old
