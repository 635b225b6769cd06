"""The month-6 audit report (``photostation audit``): one self-contained HTML page and the same
numbers as CSV and JSON, written by :func:`write_report` from an
:class:`~pipelines.audit_records.AuditSummary`.

Files written into the output folder:

``report.html``
    Opens offline: no external scripts, stylesheets, fonts or images. The Vega/Vega-Lite
    JavaScript (``vl_convert.javascript_bundle()``, as Altair's inline HTML mode embeds it) is
    in the page once; each drift chart is an Altair (Vega-Lite) spec drawn by its own
    ``vegaEmbed`` call; thumbnails are base64 ``data:`` URIs. Sections: header (protocol,
    generation time, counts), cohort summary (improved / stable / worse / not comparable /
    no outcome, and the not-comparable reasons counted), one table per patient with the two
    thumbnails of each pair, the flagged photos (checks that warned or failed, fails first),
    the findings, and the drift charts with a table of the drift events.
``pairs.csv``, ``checks.csv``, ``drift.csv``
    One row per pair, per check, per drift event; no thumbnails.
``audit.json``
    Everything above as one JSON object (no bytes; non-finite numbers are ``null``;
    datetimes ISO 8601).

The report carries patient codes only (the pseudonymous archive folder names), never names or
other identifying data (:func:`exportable`): camera serial numbers (the ``camera.serial`` check's
values, wherever they appear in a text) become ``[serial]``, and a photo's absolute path on this
machine becomes its path in the archive (``P001/month-6/vertex.jpg``). Every text from the data
is HTML-escaped; nothing is rendered as Markdown. Each file is written under a temporary name
in the output folder and moved into place with :func:`os.replace`, so no file is ever
half-written.
"""
from __future__ import annotations

import base64
import csv
import dataclasses
import datetime as dt
import functools
import html
import io
import json
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import altair as alt
import vl_convert

from photostation.writing import write_atomic
from pipelines.audit_records import AuditSummary, CheckRow, Finding, PairRow
from pipelines.audit_records import finite_number as _finite
from pipelines.audit_records import json_safe as _plain
from pipelines.audit_records import record_fields as _record
from pipelines.drift import ControlChart, DriftEvent

REPORT_FILES = ("report.html", "pairs.csv", "checks.csv", "drift.csv", "audit.json")
"""The files :func:`write_report` writes, in the order it returns them."""

OUTCOMES = ("improved", "stable", "worse")
COHORT_KEYS = ("pairs", "improved", "stable", "worse", "not_comparable", "no_outcome")
_COHORT_LABELS = {
    "pairs": "Pairs", "improved": "Improved", "stable": "Stable", "worse": "Worse",
    "not_comparable": "Not comparable",
    "no_outcome": "No outcome (comparable, but unsure or inconclusive)",
}
_OUTCOME_WORDS = {"improved": "Improved", "stable": "Stable (no change beyond the threshold)",
                  "worse": "Worse"}
_RULE_WORDS = {"shewhart": "Shewhart (jump)", "ewma": "EWMA (slow drift)"}
_STATUS_RANK = {"fail": 0, "warn": 1}
_PAIR_CSV_COLUMNS = (
    "patient", "view", "baseline_visit", "followup_visit", "baseline_photo", "followup_photo",
    "kind", "comparable", "outcome", "reasons", "flags",
    "density_baseline_per_cm2", "density_followup_per_cm2", "density_change_per_cm2",
    "density_ci95_low_per_cm2", "density_ci95_high_per_cm2",
    "coverage_baseline_pct", "coverage_followup_pct", "coverage_change_pts",
    "coverage_ci95_low_pts", "coverage_ci95_high_pts", "mm_per_px", "scale_source",
)
_CHECK_CSV_COLUMNS = ("patient", "visit", "view", "photo", "scope", "name", "status", "value",
                      "limit", "message", "station", "operator", "captured_at")
_DRIFT_CSV_COLUMNS = ("group_kind", "group", "quantity", "unit", "rule", "direction", "since",
                      "detected_at", "size", "size_sigma", "photos_count", "photos")
_JOIN = " | "
_CHART_WIDTH, _CHART_HEIGHT = 760, 220
_EMBED_OPTIONS = {"mode": "vega-lite", "actions": False, "renderer": "svg"}
_RED, _BLUE, _GREEN, _ORANGE, _GREY = "#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#888888"
SERIAL_MARK = "[serial]"
# What precedes a photo's path in the archive (<patient>/<visit>/<view>.<ext>) in an absolute
# path, e.g. "/srv/clinic/archive/" or "C:\\archive\\": it starts a word and is cut away.
_LOCAL_PREFIX = re.compile(
    r"(?<![^\s(\[{'\"=:,;])(?:[A-Za-z]:)?[/\\](?:[^/\\\n]*[/\\])*?"
    r"(?=[A-Za-z0-9][A-Za-z0-9_-]{0,63}[/\\][a-z0-9][a-z0-9-]{0,63}[/\\][a-z0-9][a-z0-9-]{0,63}\.[A-Za-z0-9]{1,5}"
    r"(?![^\s)\]}'\",;:.]))")


# --------------------------------------------------------------------------- public API


def write_report(summary: AuditSummary, out_dir: Path) -> list[Path]:
    """Write the audit report and its exports into a folder.

    Parameters
    ----------
    summary : AuditSummary
        What the audit found.
    out_dir : Path
        Output folder; created if missing. Files of an earlier run are replaced.

    Returns
    -------
    list of Path
        ``report.html``, ``pairs.csv``, ``checks.csv``, ``drift.csv`` and ``audit.json`` in
        ``out_dir``, in that order.

    Notes
    -----
    All five texts are built before the first file is written; each is then written to a
    temporary file in ``out_dir`` and moved into place with :func:`os.replace`.
    """
    summary = exportable(summary)
    texts = {
        "report.html": render_html(summary),
        "pairs.csv": _csv_text(_PAIR_CSV_COLUMNS, (_pair_csv_row(p) for p in summary.pairs)),
        "checks.csv": _csv_text(_CHECK_CSV_COLUMNS, (_check_csv_row(c) for c in summary.checks)),
        "drift.csv": _csv_text(_DRIFT_CSV_COLUMNS, (_event_csv_row(e) for e in summary.events)),
        "audit.json": json.dumps(audit_record(summary), allow_nan=False, ensure_ascii=False,
                                 indent=2) + "\n",
    }
    return [write_atomic(Path(out_dir) / name, lambda handle, text=texts[name]: handle.write(text.encode("utf-8")))
            for name in REPORT_FILES]


def exportable(summary: AuditSummary) -> AuditSummary:
    """The summary as it may leave the clinic: no camera serial numbers, no local paths.

    Parameters
    ----------
    summary : AuditSummary

    Returns
    -------
    AuditSummary
        The same records, with the values of the ``*.serial`` checks (the ``camera.serial``
        check compares camera bodies by serial number) removed and every serial number of
        at least 4 characters replaced by ``[serial]`` in every text (messages, reasons,
        flags, findings), and absolute paths of archive photos cut to the path in the
        archive. Patient codes, relative paths and every number stay.
    """
    serials = sorted({str(v).strip() for c in summary.checks if c.name.rsplit(".", 1)[-1] == "serial"
                      for v in (c.value, c.limit) if v is not None and len(str(v).strip()) >= 4},
                     key=len, reverse=True)

    def clean(text: Any) -> Any:
        if not isinstance(text, str):
            return text
        text = _LOCAL_PREFIX.sub("", text)
        for serial in serials:
            text = text.replace(serial, SERIAL_MARK)
        return text

    def check(row: CheckRow) -> CheckRow:
        serial = row.name.rsplit(".", 1)[-1] == "serial"
        return dataclasses.replace(row, message=clean(row.message), value=None if serial else clean(row.value),
                                   limit=None if serial else clean(row.limit))

    return dataclasses.replace(
        summary,
        checks=tuple(check(c) for c in summary.checks),
        pairs=tuple(dataclasses.replace(p, reasons=tuple(map(clean, p.reasons)), flags=tuple(map(clean, p.flags)))
                    for p in summary.pairs),
        findings=tuple(dataclasses.replace(f, message=clean(f.message)) for f in summary.findings))


def cohort_counts(pairs: Sequence[PairRow]) -> dict[str, int]:
    """Count the pairs by outcome.

    Parameters
    ----------
    pairs : sequence of PairRow

    Returns
    -------
    dict
        ``pairs`` (all), ``improved``, ``stable``, ``worse``, ``not_comparable`` and
        ``no_outcome`` (comparable, but no outcome: unsure or inconclusive; also any outcome
        word other than the three).
    """
    counts = dict.fromkeys(COHORT_KEYS, 0)
    counts["pairs"] = len(pairs)
    for pair in pairs:
        counts[_cohort_key(pair)] += 1
    return counts


def not_comparable_reasons(pairs: Sequence[PairRow]) -> list[tuple[str, int]]:
    """Reasons of the not-comparable pairs, identical texts grouped.

    Parameters
    ----------
    pairs : sequence of PairRow

    Returns
    -------
    list of (str, int)
        Reason and number of pairs giving it, most frequent first (a reason repeated within
        one pair counts once). A not-comparable pair without a reason counts as
        ``(no reason given)``.
    """
    counter: Counter[str] = Counter()
    for pair in pairs:
        if not pair.comparable:
            counter.update(dict.fromkeys(pair.reasons or ("(no reason given)",), 1))
    return sorted(counter.items(), key=lambda item: (-item[1], item[0]))


def audit_record(summary: AuditSummary) -> dict[str, Any]:
    """The summary as one JSON-ready object (what ``audit.json`` holds).

    Parameters
    ----------
    summary : AuditSummary

    Returns
    -------
    dict
        ``generated_at``, ``protocol``, ``patients``, ``photos``, ``cohort`` (counts and the
        not-comparable reasons), ``pairs``, ``checks``, ``findings``, ``drift_events`` and
        ``charts`` (with their points). No bytes; non-finite numbers are None; datetimes
        ISO 8601.
    """
    summary = exportable(summary)
    cohort: dict[str, Any] = dict(cohort_counts(summary.pairs))
    cohort["not_comparable_reasons"] = [
        {"reason": reason, "pairs": n} for reason, n in not_comparable_reasons(summary.pairs)]
    return _plain({
        "generated_at": summary.generated_at,
        "protocol": summary.protocol,
        "patients": summary.patients,
        "photos": summary.photos,
        "cohort": cohort,
        "pairs": [_pair_record(p) for p in summary.pairs],
        "checks": [_record(c) for c in summary.checks],
        "findings": [_record(f) for f in summary.findings],
        "drift_events": [_event_record(e) for e in summary.events],
        "charts": [_chart_record(c) for c in summary.charts],
    })


def chart_spec(chart: ControlChart) -> dict[str, Any]:
    """The Vega-Lite spec of one control chart, as drawn in the report.

    Parameters
    ----------
    chart : ControlChart

    Returns
    -------
    dict
        Values over capture time (line and points; photos of a drift event in red), the
        centre line and the Shewhart limits, the EWMA with its limits, the end of the
        reference period, and each drift event as a shaded band from its ``since`` to its
        last photo. A chart with a ``note`` shows the note (subtitle) instead of limits.
        Non-finite values are null (not drawn).
    """
    layers = [*_event_layers(chart), *_limit_layers(chart), *_value_layers(chart)]
    layered = alt.layer(*layers).properties(
        width=_CHART_WIDTH, height=_CHART_HEIGHT,
        title=alt.TitleParams(_chart_title(chart), subtitle=_chart_subtitle(chart), anchor="start"))
    # Not validated against the Vega-Lite schema on every call (a third of the time, and the
    # layers are fixed code): the tests validate them.
    spec = layered.to_dict(validate=False)
    spec.pop("$schema", None)
    return spec


def render_html(summary: AuditSummary) -> str:
    """The report page.

    Parameters
    ----------
    summary : AuditSummary

    Returns
    -------
    str
        One self-contained HTML document (see the module docstring).
    """
    summary = exportable(summary)
    body = "\n".join([
        _html_header(summary),
        _html_cohort(summary.pairs),
        _html_patients(summary.pairs),
        _html_flagged(summary.checks),
        _html_findings(summary.findings),
        _html_drift(summary.charts, summary.events),
    ])
    return _PAGE.format(title=_esc(f"Audit report: {summary.protocol}"), css=_CSS,
                        bundle=_vega_bundle(), body=body)


# --------------------------------------------------------------------------- values


def _json_text(value: Any) -> str:
    """Compact JSON text of a value (non-finite numbers null)."""
    return json.dumps(_plain(value), allow_nan=False, ensure_ascii=False)


def _iso(moment: dt.datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _cohort_key(pair: PairRow) -> str:
    if not pair.comparable:
        return "not_comparable"
    return pair.outcome if pair.outcome in OUTCOMES else "no_outcome"


def _interval(ci: tuple[float, float] | None) -> tuple[Any, Any]:
    return (None, None) if ci is None else (ci[0], ci[1])


# --------------------------------------------------------------------------- records


def _pair_record(pair: PairRow) -> dict[str, Any]:
    record = _record(pair)
    record.pop("thumbnails")
    return record


def _event_record(event: DriftEvent) -> dict[str, Any]:
    record = _record(event)
    record["photos_count"] = len(event.photos)
    return record


def _chart_record(chart: ControlChart) -> dict[str, Any]:
    return {
        "group_kind": chart.group_kind, "group": chart.group, "quantity": chart.quantity,
        "unit": chart.unit, "centre": chart.centre, "sigma": chart.sigma,
        "reference_end": chart.reference_end,
        "limits": {"lower": chart.lower_limit, "upper": chart.upper_limit},
        "note": chart.note,
        "events": len(chart.events),
        "points": _chart_points(chart),
    }


def _chart_points(chart: ControlChart) -> list[dict[str, Any]]:
    """One dict per photo: photo, taken_at, value, EWMA and its limits, in a drift event."""
    affected = {photo for event in chart.events for photo in event.photos}
    has_ewma = len(chart.ewma) == len(chart.values)
    points = []
    for i, (photo, taken_at, value) in enumerate(zip(chart.photos, chart.taken_at, chart.values)):
        points.append({
            "photo": photo, "taken_at": _iso(taken_at), "value": _finite(value),
            "ewma": _finite(chart.ewma[i]) if has_ewma else None,
            "ewma_lower": _finite(chart.ewma_lower[i]) if i < len(chart.ewma_lower) else None,
            "ewma_upper": _finite(chart.ewma_upper[i]) if i < len(chart.ewma_upper) else None,
            "drift": photo in affected,
        })
    return points


# --------------------------------------------------------------------------- CSV


def _cell(value: Any) -> str:
    """A CSV cell: empty for None or non-finite, ``true``/``false``, tuples joined, ISO dates."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else ""
    if isinstance(value, (tuple, list)):
        return _JOIN.join(_cell(v) for v in value)
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    return str(value)


def _csv_text(columns: Sequence[str], rows: Iterable[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns))
    writer.writeheader()
    for row in rows:
        writer.writerow({key: _cell(value) for key, value in row.items()})
    return buffer.getvalue()


def _pair_csv_row(pair: PairRow) -> dict[str, Any]:
    row = _pair_record(pair)
    density = _interval(row.pop("density_ci95_per_cm2"))
    coverage = _interval(row.pop("coverage_ci95_pts"))
    row["density_ci95_low_per_cm2"], row["density_ci95_high_per_cm2"] = density
    row["coverage_ci95_low_pts"], row["coverage_ci95_high_pts"] = coverage
    return row


def _check_csv_row(check: CheckRow) -> dict[str, Any]:
    row = _record(check)
    row["value"], row["limit"] = _json_text(check.value), _json_text(check.limit)
    return row


def _event_csv_row(event: DriftEvent) -> dict[str, Any]:
    return _event_record(event)


# --------------------------------------------------------------------------- files


# --------------------------------------------------------------------------- charts


@functools.lru_cache(maxsize=1)
def _vega_bundle() -> str:
    """The vega + vega-lite + vega-embed JavaScript (once per process: it takes seconds)."""
    version = "_".join(alt.SCHEMA_VERSION.split(".")[:2])  # as Altair's inline HTML mode
    bundle = vl_convert.javascript_bundle(vl_version=version)
    return bundle.replace("</script", "<\\/script").replace("</SCRIPT", "<\\/SCRIPT")


def _chart_title(chart: ControlChart) -> str:
    return f"{chart.group_kind} {chart.group}: {chart.quantity} ({chart.unit})"


def _chart_subtitle(chart: ControlChart) -> list[str]:
    if chart.note or not _has_limits(chart):
        return [f"No limits: {chart.note or 'too few reference photos'}",
                "Blue: photos; red: photos of a drift event."]
    lines = [f"Centre {_num(chart.centre, 3)} {chart.unit}, sigma {_num(chart.sigma, 3)}. "
             "Green: centre line; red dashed: Shewhart limits; orange: EWMA and its limits "
             "(shaded)."]
    lines.append("Red points and red bands: drift events; grey dotted: end of the reference period.")
    return lines


def _has_limits(chart: ControlChart) -> bool:
    return chart.note is None and _finite(chart.centre) is not None


def _time_axis() -> alt.X:
    return alt.X("taken_at:T", title="taken at", axis=alt.Axis(format="%Y-%m-%d"))


def _value_layers(chart: ControlChart) -> list[alt.Chart]:
    """The values (grey line, blue points, red for photos of a drift event)."""
    points = alt.Data(values=[p for p in _chart_points(chart) if p["taken_at"] is not None])
    y = alt.Y("value:Q", title=f"{chart.quantity} ({chart.unit})", scale=alt.Scale(zero=False))
    tooltip = [alt.Tooltip("photo:N"), alt.Tooltip("taken_at:T", format="%Y-%m-%d %H:%M"),
               alt.Tooltip("value:Q", format=".4g"), alt.Tooltip("drift:N")]
    line = alt.Chart(points).mark_line(color=_GREY, strokeWidth=1).encode(x=_time_axis(), y=y)
    colour = alt.when(alt.datum.drift).then(alt.value(_RED)).otherwise(alt.value(_BLUE))
    dots = alt.Chart(points).mark_circle(size=36, opacity=1).encode(
        x=_time_axis(), y=y, color=colour, tooltip=tooltip)
    return [line, dots]


def _limit_layers(chart: ControlChart) -> list[alt.Chart]:
    """Centre line, Shewhart limits, EWMA with its limits and end of the reference period."""
    if not _has_limits(chart):
        return []
    layers = []
    ewma = [p for p in _chart_points(chart) if p["taken_at"] is not None and p["ewma"] is not None]
    if ewma:
        data = alt.Data(values=ewma)
        layers.append(alt.Chart(data).mark_area(color=_ORANGE, opacity=0.12).encode(
            x=_time_axis(), y="ewma_lower:Q", y2="ewma_upper:Q"))
        layers.append(alt.Chart(data).mark_line(color=_ORANGE, strokeWidth=1.5).encode(
            x=_time_axis(), y="ewma:Q",
            tooltip=[alt.Tooltip("taken_at:T", format="%Y-%m-%d %H:%M"),
                     alt.Tooltip("ewma:Q", format=".4g"),
                     alt.Tooltip("ewma_lower:Q", format=".4g"),
                     alt.Tooltip("ewma_upper:Q", format=".4g")]))
    layers.append(_rule_layer([("centre", chart.centre)], _GREEN, None))
    layers.append(_rule_layer([("lower limit", chart.lower_limit),
                               ("upper limit", chart.upper_limit)], _RED, [6, 4]))
    if chart.reference_end is not None:
        end = alt.Data(values=[{"taken_at": _iso(chart.reference_end),
                                "line": "end of reference period"}])
        layers.append(alt.Chart(end).mark_rule(color=_GREY, strokeDash=[2, 3]).encode(
            x=_time_axis(), tooltip=["line:N", alt.Tooltip("taken_at:T", format="%Y-%m-%d %H:%M")]))
    return [layer for layer in layers if layer is not None]


def _rule_layer(lines: list[tuple[str, Any]], colour: str, dash: list[int] | None) -> alt.Chart | None:
    values = [{"line": name, "value": _finite(v)} for name, v in lines if _finite(v) is not None]
    if not values:
        return None
    mark = {"color": colour, "strokeWidth": 1.5} | ({"strokeDash": dash} if dash else {})
    return alt.Chart(alt.Data(values=values)).mark_rule(**mark).encode(
        y="value:Q", tooltip=["line:N", alt.Tooltip("value:Q", format=".4g")])


def _event_layers(chart: ControlChart) -> list[alt.Chart]:
    """One shaded band per drift event, from ``since`` to its last photo."""
    if not chart.events:
        return []
    taken = dict(zip(chart.photos, chart.taken_at))
    bands = []
    for event in chart.events:
        times = [taken[p] for p in event.photos if p in taken]
        end = max([*times, event.detected_at, event.since])
        bands.append({"start": _iso(event.since), "end": _iso(end),
                      "event": f"{event.rule} {event.direction}",
                      "size": f"{_num(event.size, 3, signed=True)} {event.unit} "
                              f"({_num(event.size_sigma, 1, signed=True)} sigma)",
                      "photos": len(event.photos)})
    return [alt.Chart(alt.Data(values=bands)).mark_rect(color=_RED, opacity=0.12).encode(
        x=alt.X("start:T", title="taken at"), x2="end:T",
        tooltip=["event:N", alt.Tooltip("start:T", title="since", format="%Y-%m-%d %H:%M"),
                 "size:N", "photos:Q"])]


def _script_json(value: Any) -> str:
    """JSON for inside a ``<script>`` element: ``<``, ``>`` and ``&`` as ``\\u`` escapes."""
    text = json.dumps(_plain(value), allow_nan=False, ensure_ascii=True)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _embed(div_id: str, spec: dict[str, Any]) -> str:
    """A chart's ``<div>`` and its own ``vegaEmbed`` call."""
    return (f'<div class="chart" id="{div_id}"></div>\n<script>\n'
            f'vegaEmbed("#{div_id}", {_script_json(spec)}, {_script_json(_EMBED_OPTIONS)})'
            f'.catch(function (error) {{ document.getElementById("{div_id}").textContent = '
            f'"The chart could not be drawn: " + error; }});\n</script>')


# --------------------------------------------------------------------------- HTML


def _esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _num(value: Any, digits: int = 1, signed: bool = False) -> str:
    """A number for reading: ``-`` when missing, ``n/a`` when not finite."""
    if value is None:
        return "\u2013"
    number = _finite(value)
    if number is None:
        return "n/a"
    return f"{number:{'+' if signed else ''}.{digits}f}"


def _change(change: Any, ci: tuple[float, float] | None, digits: int = 1) -> str:
    text = _num(change, digits, signed=True)
    if ci is not None:
        text += f" [{_num(ci[0], digits, signed=True)}, {_num(ci[1], digits, signed=True)}]"
    return text


def _table(headers: Sequence[str], rows: Iterable[str], css_class: str = "") -> str:
    head = "".join(f"<th>{_esc(h)}</th>" for h in headers)
    attr = f' class="{css_class}"' if css_class else ""
    return f"<table{attr}>\n<thead><tr>{head}</tr></thead>\n<tbody>\n" + "\n".join(rows) + \
        "\n</tbody>\n</table>"


def _cells(values: Iterable[str]) -> str:
    """A table row of already-escaped cells."""
    return "<tr>" + "".join(f"<td>{v}</td>" for v in values) + "</tr>"


def _lines(texts: Iterable[Any]) -> str:
    return "<br>".join(_esc(t) for t in texts)


def _html_header(summary: AuditSummary) -> str:
    generated = summary.generated_at.isoformat(sep=" ", timespec="seconds")
    counts = [("Patients", summary.patients), ("Photos", summary.photos),
              ("Pairs", len(summary.pairs))]
    items = "".join(f'<li><span class="n" data-key="{_esc(k.lower())}">{_esc(n)}</span> '
                    f"{_esc(k.lower())}</li>" for k, n in counts)
    return (f"<header>\n<h1>Audit report</h1>\n"
            f'<p class="meta">Protocol <strong>{_esc(summary.protocol)}</strong> &middot; '
            f"generated {_esc(generated)}</p>\n<ul class=\"counts\">{items}</ul>\n"
            '<p class="meta">Patient codes only.</p>\n'
            '<nav><a href="#cohort">Cohort</a> <a href="#patients">Patients</a> '
            '<a href="#flagged">Flagged photos</a> <a href="#findings">Findings</a> '
            '<a href="#drift">Drift</a></nav>\n</header>')


def _html_cohort(pairs: Sequence[PairRow]) -> str:
    counts = cohort_counts(pairs)
    rows = [f'<tr><th>{_esc(_COHORT_LABELS[k])}</th><td class="num" data-key="{k}">'
            f"{counts[k]}</td></tr>" for k in COHORT_KEYS]
    table = '<table class="cohort">\n' + "\n".join(rows) + "\n</table>"
    reasons = not_comparable_reasons(pairs)
    if reasons:
        reason_rows = (_cells([_esc(r), f'<span class="num">{n}</span>']) for r, n in reasons)
        reason_html = "<h3>Why pairs were not comparable</h3>\n" + _table(("Reason", "Pairs"), reason_rows)
    else:
        reason_html = "<p>Every pair was comparable.</p>"
    return f'<section id="cohort">\n<h2>Cohort summary</h2>\n{table}\n{reason_html}\n</section>'


def _outcome_words(pair: PairRow) -> str:
    if not pair.comparable:
        return "Not comparable"
    if pair.outcome in _OUTCOME_WORDS:
        return _OUTCOME_WORDS[pair.outcome]
    if pair.outcome:
        return f"No outcome ({pair.outcome})"
    return "No outcome (unsure or inconclusive)"


def _scale_text(pair: PairRow) -> str:
    if pair.mm_per_px is None:
        return "\u2013"
    source = f" ({pair.scale_source})" if pair.scale_source else ""
    return f"{_num(pair.mm_per_px, 4)} mm/px{source}"


def _thumbnail(data: bytes | None, alt_text: str) -> str:
    if not data:
        return f'<figure class="none">no picture<figcaption>{_esc(alt_text)}</figcaption></figure>'
    mime = "image/png" if bytes(data[:8]) == b"\x89PNG\r\n\x1a\n" else "image/jpeg"
    encoded = base64.b64encode(bytes(data)).decode("ascii")
    return (f'<figure><img src="data:{mime};base64,{encoded}" alt="{_esc(alt_text)}">'
            f"<figcaption>{_esc(alt_text)}</figcaption></figure>")


def _thumbnails(pair: PairRow) -> str:
    return ('<div class="thumbs">'
            + _thumbnail(pair.thumbnails.get("baseline"), f"baseline {pair.baseline_visit}")
            + _thumbnail(pair.thumbnails.get("followup"), f"follow-up {pair.followup_visit}")
            + "</div>")


def _pair_row(pair: PairRow) -> str:
    outcome_class = _cohort_key(pair).replace("_", "-")
    cells = [
        _esc(pair.view),
        f"{_esc(pair.baseline_visit)} &rarr; {_esc(pair.followup_visit)}",
        _esc(pair.kind or "\u2013"),
        _esc(_num(pair.density_baseline_per_cm2)), _esc(_num(pair.density_followup_per_cm2)),
        _esc(_change(pair.density_change_per_cm2, pair.density_ci95_per_cm2)),
        _esc(_num(pair.coverage_baseline_pct)), _esc(_num(pair.coverage_followup_pct)),
        _esc(_change(pair.coverage_change_pts, pair.coverage_ci95_pts)),
        f'<span class="outcome {outcome_class}">{_esc(_outcome_words(pair))}</span>',
        _esc(_scale_text(pair)), _lines(pair.flags), _lines(pair.reasons), _thumbnails(pair),
    ]
    return _cells(cells)


_PAIR_HEADERS = (
    "View", "Visits", "Kind", "Density baseline (/cm²)", "Density follow-up (/cm²)",
    "Density change (/cm²) [95 %]", "Coverage baseline (%)", "Coverage follow-up (%)",
    "Coverage change (pts) [95 %]", "Outcome", "Scale", "Flags", "Reasons",
    "Baseline | follow-up")


def _html_patients(pairs: Sequence[PairRow]) -> str:
    by_patient: dict[str, list[PairRow]] = {}
    for pair in pairs:
        by_patient.setdefault(pair.patient, []).append(pair)
    parts = ['<section id="patients">\n<h2>Patients</h2>']
    if not by_patient:
        parts.append("<p>No pairs.</p>")
    for number, patient in enumerate(sorted(by_patient), start=1):
        rows = sorted(by_patient[patient], key=lambda p: (p.view, p.followup_visit))
        parts.append(f'<article class="patient" id="patient-{number}">\n'
                     f"<h3>Patient {_esc(patient)}</h3>\n"
                     + _table(_PAIR_HEADERS, (_pair_row(p) for p in rows), "pairs")
                     + "\n</article>")
    parts.append("</section>")
    return "\n".join(parts)


def _flagged_groups(checks: Sequence[CheckRow]) -> list[tuple[CheckRow, int]]:
    """Warned and failed checks, identical (photo, rule, status, message) grouped, fails first."""
    groups: dict[tuple, list[CheckRow]] = {}
    for check in checks:
        if check.status in _STATUS_RANK:
            key = (check.patient, check.visit, check.view, check.photo, check.scope,
                   check.name, check.status, check.message)
            groups.setdefault(key, []).append(check)
    ordered = sorted(groups.values(), key=lambda g: (
        _STATUS_RANK[g[0].status], g[0].patient, g[0].visit, g[0].photo or "", g[0].name))
    return [(group[0], len(group)) for group in ordered]


def _html_flagged(checks: Sequence[CheckRow]) -> str:
    groups = _flagged_groups(checks)
    if not groups:
        return '<section id="flagged">\n<h2>Flagged photos</h2>\n<p>No warnings or failures.</p>\n</section>'
    rows = []
    for check, times in groups:
        repeat = f" (&times;{times})" if times > 1 else ""
        rows.append(_cells([
            f'<span class="status {_esc(check.status)}">{_esc(check.status)}</span>',
            _esc(check.patient), _esc(check.visit), _esc(check.view or "\u2013"),
            _esc(check.photo or "(whole visit)"), _esc(check.scope), _esc(check.name),
            f"<code>{_esc(_json_text(check.value))}</code>",
            f"<code>{_esc(_json_text(check.limit))}</code>",
            _esc(check.message) + repeat,
            _esc(" / ".join(x for x in (check.station, check.operator) if x) or "\u2013"),
        ]))
    headers = ("Status", "Patient", "Visit", "View", "Photo", "Scope", "Rule", "Value", "Limit",
               "Message", "Station / operator")
    return ('<section id="flagged">\n<h2>Flagged photos</h2>\n'
            f"<p>{len(groups)} warnings and failures, failures first.</p>\n"
            + _table(headers, rows, "flagged") + "\n</section>")


def _html_findings(findings: Sequence[Finding]) -> str:
    if not findings:
        body = "<p>No findings.</p>"
    else:
        rows = (_cells([_esc(f.kind), _esc(f.message), _esc(f.patient or "\u2013"),
                        _lines(f.photos) or "\u2013"]) for f in findings)
        body = _table(("Kind", "Message", "Patient", "Photos"), rows, "findings")
    return f'<section id="findings">\n<h2>Findings</h2>\n{body}\n</section>'


def _html_chart(index: int, chart: ControlChart) -> str:
    heading = f"<h3>{_esc(_chart_title(chart))}</h3>"
    note = f'<p class="note">No limits: {_esc(chart.note)}</p>' if chart.note else ""
    events = f"<p>{len(chart.events)} drift event(s).</p>" if chart.events else ""
    return (f'<div class="control-chart">\n{heading}\n{note}{events}\n'
            f"{_embed(f'chart-{index}', chart_spec(chart))}\n</div>")


def _event_row(event: DriftEvent) -> str:
    return _cells([
        _esc(f"{event.group_kind} {event.group}"), _esc(event.quantity),
        _esc(_RULE_WORDS.get(event.rule, event.rule)), _esc(event.direction),
        _esc(event.since.isoformat(sep=" ", timespec="minutes")),
        _esc(event.detected_at.isoformat(sep=" ", timespec="minutes")),
        _esc(f"{_num(event.size, 3, signed=True)} {event.unit}"),
        _esc(f"{_num(event.size_sigma, 1, signed=True)} \u03c3"),
        f'<span class="num">{len(event.photos)}</span>',
    ])


def _html_drift(charts: Sequence[ControlChart], events: Sequence[DriftEvent]) -> str:
    parts = ['<section id="drift">\n<h2>Drift of stations and operators</h2>',
             "<noscript><p>The charts need JavaScript (embedded in this file).</p></noscript>"]
    parts += [_html_chart(i, chart) for i, chart in enumerate(charts)] or ["<p>No charts.</p>"]
    parts.append("<h3>Drift events</h3>")
    if events:
        headers = ("Station / operator", "Quantity", "Rule", "Direction", "Since", "Detected",
                   "Size", "Size (sigma)", "Photos affected")
        parts.append(_table(headers, (_event_row(e) for e in events), "events"))
    else:
        parts.append("<p>No drift events.</p>")
    parts.append("</section>")
    return "\n".join(parts)


_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #222;
       margin: 1.5rem auto; max-width: 1400px; padding: 0 1rem; line-height: 1.4; }
h1 { margin-bottom: 0.2rem; } h2 { border-bottom: 2px solid #ddd; margin-top: 2.2rem; }
.meta { color: #555; margin: 0.2rem 0; }
ul.counts { list-style: none; padding: 0; display: flex; gap: 2rem; font-size: 1.1rem; }
ul.counts .n { font-weight: bold; font-size: 1.4rem; }
nav a { margin-right: 1rem; }
table { border-collapse: collapse; margin: 0.6rem 0 1.2rem; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.3rem 0.5rem; text-align: left; vertical-align: top; }
thead th { background: #f2f2f2; }
table.cohort th { font-weight: normal; }
.num { font-variant-numeric: tabular-nums; text-align: right; }
td.num { text-align: right; font-weight: bold; }
.outcome.improved { color: #1a7f37; font-weight: bold; }
.outcome.worse { color: #b42318; font-weight: bold; }
.outcome.not-comparable, .outcome.no-outcome { color: #666; }
.status { font-weight: bold; text-transform: uppercase; }
.status.fail { color: #b42318; } .status.warn { color: #9a6700; }
.thumbs { display: flex; gap: 0.4rem; }
figure { margin: 0; text-align: center; font-size: 0.75rem; color: #555; }
figure img { max-width: 160px; max-height: 160px; display: block; }
figure.none { width: 100px; padding: 1rem 0; background: #f4f4f4; }
.note { color: #9a6700; }
.control-chart { margin-bottom: 1.5rem; }
code { font-size: 0.8rem; }
@media print { nav { display: none; } }
"""

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{css}</style>
<script id="vega-bundle">
{bundle}
</script>
</head>
<body>
{body}
</body>
</html>
"""
