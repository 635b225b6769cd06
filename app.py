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
    mm_per_px = st.number_input("Scale, mm per pixel of the baseline (0 = from the card or station profile)",
                                min_value=0.0, value=0.0, step=0.0001, format="%.5f", key="compare_scale")
    if st.button("Compare", key="compare_run"):
        from photostation.protocol import load_protocol
        from pipelines.compare import compare_pair
        from pipelines.reports import report_images

        try:
            result = compare_pair(pair.baseline_path, pair.followup_path, load_protocol(),
                                  mm_per_px=mm_per_px or None)
        except InputError as exc:
            st.error(str(exc))
            st.stop()
        data = result.to_json()
        if data["comparable"]:
            st.success(f"comparable; outcome: {data['change']['outcome'] or 'none (see the flags)'}")
            for flag in data["flags"]:  # warnings, e.g. a density that is unreliable on light hair
                st.warning(flag)
        else:
            st.error("not comparable: " + "; ".join(data["flags"][:3]))
        st.dataframe([{"": side, **{k: data[side][k] for k in ("hair_count", "density_per_cm2", "coverage_pct",
                                                               "mean_shaft_width_um", "vellus_pct")}}
                      for side in ("baseline", "followup")], hide_index=True, width="stretch")
        st.json(data["change"])
        pictures = report_images(result)
        if "side_by_side" in pictures:
            st.image(pictures["side_by_side"], caption="baseline | registered follow-up", width="stretch")
        if "hairs" in pictures:
            st.image(pictures["hairs"], caption="hairs matched (green), lost (red), new (blue)", width="stretch")
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
