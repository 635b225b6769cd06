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


url = st.sidebar.text_input("Ledger database", value=database_url(None))
try:
    factory = _ledger(url)
except InputError as exc:
    st.error(str(exc))
    st.stop()
st.sidebar.caption(f"ledger: {redact_url(url)}")
page = st.sidebar.radio("Page", ["Visits", "Audit flags"], key="page")

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
