"""Audit: the photography drift of each station and operator on control charts, the flags
(one row per finding) with filters and a click-through to the photo, resolving flags with a
note, the cohort summary, and the report to download. Read from the ledger that
``photostation audit`` (or ingest and the Compare page) filled."""
from __future__ import annotations

import streamlit as st

from app_pages.common import STATUS_WORD, identity_input, ledger, protocol
from photostation import review
from photostation.errors import InputError

factory = ledger()
rules = protocol()
st.title("Audit")


@st.cache_data(max_entries=2, show_spinner="reading the audit from the ledger...")
def _summary(stamp: tuple):
    from pipelines.audit_summary import audit_summary

    return audit_summary(factory, rules)


summary = _summary(review.ledger_stamp(factory))
if not summary.photos:
    st.info("The ledger is empty: run `photostation audit ARCHIVE` first.")
    st.stop()

from pipelines import audit_review  # noqa: E402

counts = st.columns(4)
counts[0].metric("patients", summary.patients)
counts[1].metric("photos", summary.photos)
counts[2].metric("pairs compared", len(summary.pairs))
counts[3].metric("drift events", len(summary.events))

flags_tab, drift_tab, cohort_tab, report_tab = st.tabs(["Flags", "Drift", "Cohort", "Report"])

with flags_tab:
    options = audit_review.filter_options(factory)
    first, second, third = st.columns(3)
    period = first.date_input("Period", value=(options.first_date, options.last_date) if options.first_date else (),
                              key="audit_period")
    stations = second.multiselect("Stations", options.stations, key="audit_stations")
    operators = third.multiselect("Operators", options.operators, key="audit_operators")
    fourth, fifth, sixth = st.columns(3)
    chosen_rules = fourth.multiselect("Rules", options.rules, key="audit_rules")
    statuses = fifth.multiselect("Status", ["fail", "warn"], default=["fail", "warn"], key="audit_statuses",
                                 format_func=STATUS_WORD.get)
    state = sixth.selectbox("Flags", ["open", "resolved", "all"], key="audit_state")
    start, end = (period[0], period[-1]) if isinstance(period, (tuple, list)) and period else (None, None)
    flt = audit_review.FlagFilter(start=start, end=end, stations=tuple(stations), operators=tuple(operators),
                                  rules=tuple(chosen_rules), statuses=tuple(statuses), state=state)
    rows = audit_review.flag_rows(factory, flt)
    st.metric("findings", len(rows), help="one row per finding: the same rule failing on several photos of one "
                                          "visit is one finding")
    table = st.dataframe([{"status": STATUS_WORD[r.status], "rule": r.rule, "patient": r.patient, "visit": r.visit,
                           "date": r.visit_date, "views": ", ".join(dict.fromkeys(r.views)), "photos": r.photo_count,
                           "station": r.station, "operator": r.operator, "message": r.message,
                           "state": r.state} for r in rows],
                         hide_index=True, width="stretch", on_select="rerun", selection_mode="single-row",
                         key="audit_table")
    picked = table.selection.rows if table is not None and hasattr(table, "selection") else []
    if picked:
        row = rows[picked[0]]
        st.subheader(f"{row.rule}: {row.patient}, {row.visit}")
        st.text(row.message)
        for photo_id, view in zip(row.photo_ids, row.views):
            st.page_link("app_pages/visits.py", label=f"open {view}", query_params={"photo": str(photo_id)})
        if row.state == "resolved":
            st.text(f"resolved by {row.resolved_by} on {row.resolved_at:%Y-%m-%d %H:%M}: {row.resolution_note}")
        else:
            with st.form("resolve"):
                reviewer = identity_input("Your initials or staff ID", key="resolve_reviewer")
                note = st.text_area("Why it is resolved (no patient names)", key="resolve_note")
                if st.form_submit_button("Resolve this finding"):
                    try:
                        audit_review.resolve_flag(factory, row.key, reviewer, note)
                        st.success("resolved")
                        st.rerun()
                    except InputError as exc:
                        st.error(str(exc))
    else:
        st.caption("Select a row to open its photos or resolve it.")

with drift_tab:
    groups = sorted({(c.group_kind, c.group) for c in summary.charts})
    if not groups:
        st.info("No control chart yet: each station and operator needs a few dated photos.")
    else:
        left, right = st.columns(2)
        group = left.selectbox("Station or operator", groups, key="drift_group",
                               format_func=lambda g: f"{g[0]} {g[1]}")
        quantities = sorted({c.quantity for c in summary.charts if (c.group_kind, c.group) == group})
        shown = right.multiselect("Measures", quantities, default=quantities[:4], key="drift_measures")
        for title, spec in audit_review.drift_chart_specs(summary, group[0], group[1], tuple(shown)):
            st.vega_lite_chart(spec, width="stretch")
        events = audit_review.drift_event_rows(summary, group[0], group[1])
        st.markdown(f"**Drift events** ({len(events)})")
        if events:
            st.dataframe(events, hide_index=True, width="stretch")

with cohort_tab:
    st.dataframe(audit_review.cohort_rows(summary), hide_index=True, width="stretch")




@st.cache_data(max_entries=2, show_spinner="writing the report (all charts, a few seconds)...")
def _report(stamp: tuple, _summary) -> tuple[bytes, bytes]:
    import io
    import zipfile

    archive = audit_review.report_zip(_summary)
    with zipfile.ZipFile(io.BytesIO(archive)) as files:
        html = next(files.read(n) for n in files.namelist() if n.endswith(".html"))
    return html, archive


with report_tab:
    st.write("The audit report: one offline HTML file (charts included), or with the CSV and JSON tables.")
    stamp = review.ledger_stamp(factory)
    if st.session_state.get("report_for") == stamp or st.button("Prepare the report", key="report_prepare"):
        st.session_state["report_for"] = stamp
        html, archive = _report(stamp, summary)
        when = f"{summary.generated_at:%Y%m%d-%H%M}"
        st.download_button("Download the HTML report", html, file_name=f"photostation-audit-{when}.html",
                           mime="text/html", key="report_html")
        st.download_button("Download HTML, CSV and JSON (zip)", archive, file_name=f"photostation-audit-{when}.zip",
                           mime="application/zip", key="report_zip")
