"""photostation review UI (Streamlit). Thin: it reads the ledger through photostation.review
and draws; the logic lives in the packages.

    streamlit run app.py            # ledger from $PHOTOSTATION_DB or ./photostation.db
"""
from __future__ import annotations

import streamlit as st

from photostation import review
from photostation.errors import InputError
from photostation.imaging import decode
from photostation.ledger import database_url, open_ledger, redact_url

STATUS_ICON = {"pass": "✅ pass", "warn": "⚠️ warn", "fail": "❌ fail"}

st.set_page_config(page_title="photostation", layout="wide")


@st.cache_resource
def _ledger(url: str):
    return open_ledger(url, create=False)


@st.cache_data(max_entries=8, show_spinner="measuring…")
def _measure(path: str, modified: float, mm_per_px: float, hairs_csv: bytes | None):
    """``photostation measure`` of one photo (cached per file version, scale and hairs file)."""
    import tempfile
    from pathlib import Path

    from photostation.protocol import load_protocol
    from pipelines.measure import measure_photo, measurement_overlay

    with tempfile.TemporaryDirectory() as folder:
        hairs_file = None
        if hairs_csv is not None:
            hairs_file = Path(folder) / "hairs.csv"
            hairs_file.write_bytes(hairs_csv)
        result = measure_photo(path, load_protocol(), mm_per_px=mm_per_px or None, hairs_file=hairs_file)
    return result.to_json(), measurement_overlay(decode(path), result), result


def _measure_panel(path, view: str) -> None:
    """Measure the photo shown; a trichoscopy count can be downloaded, corrected and re-measured."""
    from pipelines.hairs_file import hairs_csv

    if not st.toggle("Measure hairs / coverage", key="measure_on"):
        return
    scale = st.number_input("Scale, mm per pixel (0 = from the card or station profile)", min_value=0.0,
                            value=0.0, step=0.0001, format="%.5f", key="measure_scale")
    corrected = st.file_uploader("Corrected hairs file (CSV from the download below)", type=["csv"],
                                 key="measure_hairs")
    try:
        data, overlay, result = _measure(str(path), path.stat().st_mtime, scale,
                                         corrected.getvalue() if corrected is not None else None)
    except InputError as exc:
        st.error(str(exc))
        return
    if not data["measurable"]:
        st.error(f"not measurable: {data['reason']}")
        return
    for flag in data["flags"]:
        st.warning(flag)
    keys = ("hair_count", "density_per_cm2", "mean_shaft_width_um", "vellus_pct", "terminal_pct",
            "cumulative_thickness_mm_per_cm2", "coverage_pct")
    st.dataframe([{"figure": k, "value": data[k]} for k in keys if data[k] is not None], hide_index=True)
    st.image(overlay, caption="measured: hair roots and shafts (yellow), fine hairs (cyan)", width="stretch")
    if result.hairs:
        # Coordinates and sizes only: nothing in the file identifies the patient.
        st.download_button("Download the hairs file to correct", hairs_csv(list(result.hairs)),
                           file_name=f"{view}_hairs.csv", mime="text/csv", key="measure_download")


OUTCOME_WORDS = {"improved": "improved", "stable": "stable (no change beyond the protocol's threshold)",
                 "worse": "worse"}


def _figure(value, unit: str, digits: int = 1) -> str:
    return "–" if value is None else f"{value:.{digits}f} {unit}".strip()


def _show_comparison(stored: review.StoredComparison) -> None:
    """A stored comparison in words: nothing shown as a figure when the pair is not comparable."""
    when = f"{stored.computed_at:%Y-%m-%d %H:%M} UTC"
    if not stored.current:
        st.warning("A photo changed since this comparison was stored: compare again.")
    if stored.result is None:
        st.error(f"The comparison could not run ({when}): {stored.error}")
        return
    data = stored.result
    if not data["comparable"]:
        st.error(f"Not comparable ({when}). Why:")
        for flag in data["flags"]:
            st.text(f"- {flag}")  # plain text, never Markdown
        return
    change = data["change"]
    outcome = change["outcome"]
    st.success(f"Comparable ({data['view']}, {when}); outcome: "
               + (OUTCOME_WORDS.get(outcome, outcome) if outcome else "none — see the flags"))
    rows = [{"": side, "hairs": data[side]["hair_count"],
             "density": _figure(data[side]["density_per_cm2"], "hairs/cm²"),
             "coverage": _figure(data[side]["coverage_pct"], "%")} for side in ("baseline", "followup")]
    st.dataframe(rows, hide_index=True, width="stretch")
    if change["density_per_cm2"] is not None:
        low, high = change["ci95_density_per_cm2"]
        st.write(f"Density change: {change['density_per_cm2']:+.1f} hairs/cm² "
                 f"(95 % interval {low:+.1f} to {high:+.1f})")
    if change["coverage_pct_points"] is not None:
        low, high = change["ci95_coverage_pct_points"]
        st.write(f"Coverage change: {change['coverage_pct_points']:+.2f} points "
                 f"(95 % interval {low:+.2f} to {high:+.2f})")
    for flag in data["flags"]:
        st.warning(flag)
    if stored.thumbnail_baseline and stored.thumbnail_followup:
        left, right = st.columns(2)
        left.image(stored.thumbnail_baseline, caption="baseline")
        right.image(stored.thumbnail_followup, caption="follow-up, registered")


url = st.sidebar.text_input("Ledger database", value=database_url(None))
try:
    factory = _ledger(url)
except InputError as exc:
    st.error(str(exc))
    st.stop()
st.sidebar.caption(f"ledger: {redact_url(url)}")
page = st.sidebar.radio("Page", ["Visits", "Compare", "Audit flags"], key="page")

if page == "Visits":
    st.title("Visits")
    visits = review.list_visits(factory)
    if not visits:
        st.info("The ledger is empty: run `photostation ingest ARCHIVE` first.")
        st.stop()
    st.dataframe([{"patient": v.patient, "visit": v.visit, "date": v.visit_date, "operator": v.operator,
                   "station": v.station, "photos": v.photos, "verdict": STATUS_ICON[v.verdict]} for v in visits],
                 hide_index=True, width="stretch")
    visit = st.selectbox("Visit", visits, key="visit", format_func=lambda v: f"{v.patient} · {v.visit} · {v.verdict}")
    photos = review.photos_of_visit(factory, visit.visit_id)
    if not photos:
        st.info("This visit has no photos.")
        st.stop()
    photo_id, _, _ = st.selectbox("Photo", photos, key="photo", format_func=lambda p: f"{p[1]} · {p[2]}")
    detail = review.photo_detail(factory, photo_id)
    left, right = st.columns([3, 2])
    with left:
        root = review.archive_root(factory)
        path = root / detail.relative_path if root else None
        if path is not None and path.is_file():
            try:
                st.image(decode(path, max_side=1400), caption=detail.relative_path, width="stretch")
            except InputError as exc:
                st.error(str(exc))
        else:
            st.warning(f"photo file not found: {detail.relative_path}")
        if path is not None and path.is_file():
            _measure_panel(path, detail.view)
    with right:
        st.subheader(f"{detail.view}: {STATUS_ICON[detail.verdict]}")
        ordered = sorted(detail.checks, key=lambda c: ("fail", "warn", "pass").index(c.status))
        st.dataframe([{"status": STATUS_ICON[c.status], "check": c.name, "message": c.message} for c in ordered],
                     hide_index=True, width="stretch")
        meta = detail.metadata
        st.caption(" · ".join(str(meta.get(k)) for k in ("captured_at", "make", "model") if meta.get(k)))
        with st.form("review"):
            st.markdown("**Review**")
            reviewer = st.text_input("Your initials or staff ID", key="reviewer")
            role = st.selectbox("Role", review.ROLES, key="role")
            decision = st.selectbox("Decision", review.DECISIONS, key="decision")
            comment = st.text_area("Comment (no patient names)", key="comment")
            if st.form_submit_button("Save review"):
                try:
                    saved = review.add_review(factory, photo_id, reviewer, role, decision, comment)
                    st.success(f"saved: {saved.decision} by {saved.reviewer}")
                except InputError as exc:
                    st.error(str(exc))
        for r in review.photo_detail(factory, photo_id).reviews:
            st.write(f"{r.reviewed_at:%Y-%m-%d %H:%M} · {r.role} {r.reviewer}: **{r.decision}**"
                     + (f" — {r.comment}" if r.comment else ""))
elif page == "Compare":
    st.title("Compare")
    patients = sorted({v.patient for v in review.list_visits(factory)})
    if not patients:
        st.info("The ledger is empty: run `photostation ingest ARCHIVE` first.")
        st.stop()
    patient = st.selectbox("Patient", patients, key="compare_patient")
    pairs = review.comparable_pairs(factory, patient)
    if not pairs:
        st.info("No follow-up photo with a baseline of the same view for this patient.")
        st.stop()
    pair = st.selectbox("Photos", pairs, key="compare_pair",
                        format_func=lambda p: f"{p.view}: baseline vs {p.followup_visit}")
    stored = review.stored_comparison(factory, pair.followup_id)
    mm_per_px = st.number_input("Scale, mm per pixel of the baseline (0 = from the card, station profile or "
                                "protocol)", min_value=0.0, value=0.0, step=0.0001, format="%.5f",
                                key="compare_scale")
    label = "Compare" if stored is None else "Compare again"
    if st.button(label, key="compare_run"):
        from photostation.protocol import load_protocol
        from pipelines.audit import compare_and_store

        with st.spinner("registering and measuring the pair…"):
            try:
                compare_and_store(factory, pair.baseline_id, pair.followup_id, load_protocol(),
                                  mm_per_px=mm_per_px or None, db_url=url)
            except InputError as exc:
                st.error(str(exc))
                st.stop()
        stored = review.stored_comparison(factory, pair.followup_id)
    if stored is None:
        st.info("Not compared yet: press Compare (or run `photostation audit`). The result is stored in the ledger.")
        st.stop()
    _show_comparison(stored)
else:
    st.title("Audit flags")
    flags = review.open_flags(factory)
    stations = sorted({f.station for f in flags if f.station})
    chosen = st.multiselect("Stations", stations, default=stations)
    shown = [f for f in flags if f.station in chosen or not f.station]
    st.metric("open flags", len(shown), help="warn and fail checks of photos and visits")
    st.dataframe([{"status": STATUS_ICON[f.status], "patient": f.patient, "visit": f.visit, "view": f.view,
                   "check": f.name, "message": f.message, "station": f.station, "operator": f.operator}
                  for f in shown], hide_index=True, width="stretch")
