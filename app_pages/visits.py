"""Visits: every visit with its verdict; one photo with its checks, measurement and review
trail. The start page; deep link: ``/?patient=P001&visit=month-6&view=vertex`` (or ``/?photo=ID``)."""
from __future__ import annotations

import streamlit as st

from app_pages.common import STATUS_WORD, identity_input, kept_choice, ledger, protocol, show_photo
from photostation import review
from photostation.errors import InputError

factory = ledger()
st.title("Visits")

if "photo" in st.query_params:  # a click-through from the Audit page
    try:
        detail = review.photo_detail(factory, int(st.query_params["photo"]))
        st.query_params.update(patient=detail.patient, visit=detail.visit, view=detail.view)
    except (InputError, ValueError):
        st.warning(f"no photo {st.query_params['photo']} in this ledger")
    del st.query_params["photo"]

visits = review.list_visits(factory)
if not visits:
    st.info("The ledger is empty: run `photostation ingest ARCHIVE` (or take the first shot on the Capture page).")
    st.stop()
st.dataframe([{"patient": v.patient, "visit": v.visit, "date": v.visit_date, "operator": v.operator,
               "station": v.station, "photos": v.photos, "verdict": STATUS_WORD[v.verdict]} for v in visits],
             hide_index=True, width="stretch")
patients = sorted({v.patient for v in visits})
left, middle, right = st.columns(3)
with left:
    patient = kept_choice("Patient", patients, param="patient", key="visits_patient")
of_patient = [v for v in visits if v.patient == patient]
with middle:
    visit = kept_choice("Visit", of_patient, param="visit", key="visit", ident=lambda v: v.visit,
                        format_func=lambda v: f"{v.visit} ({STATUS_WORD[v.verdict]})")
photos = review.photos_of_visit(factory, visit.visit_id)
if not photos:
    st.info("This visit has no photos.")
    st.stop()
with right:
    photo_id, _, _ = kept_choice("Photo", photos, param="view", key="photo", ident=lambda p: p[1],
                                 format_func=lambda p: f"{p[1]} ({STATUS_WORD[p[2]]})")
detail = review.photo_detail(factory, photo_id)
root = review.archive_root(factory)
path = root / detail.relative_path if root else None

left, right = st.columns([3, 2])
with left:
    show_photo(path, detail.relative_path)
    if path is not None and path.is_file():
        from app_pages.measure_panel import measure_panel

        measure_panel(path, detail.view, protocol())
with right:
    st.subheader(f"{detail.view}: {STATUS_WORD[detail.verdict]}")
    ordered = sorted(detail.checks, key=lambda c: ("fail", "warn", "pass").index(c.status))
    st.dataframe([{"status": STATUS_WORD[c.status], "check": c.name, "message": c.message} for c in ordered],
                 hide_index=True, width="stretch")
    meta = detail.metadata
    st.caption(" · ".join(str(meta.get(k)) for k in ("captured_at", "make", "model") if meta.get(k)))
    with st.form("review"):
        st.markdown("**Review**")
        reviewer = identity_input("Your initials or staff ID", key="reviewer")
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
        # Plain text: a comment is never rendered as Markdown (no remote images, no links).
        st.text(f"{r.reviewed_at:%Y-%m-%d %H:%M} · {r.role} {r.reviewer}: {r.decision}"
                + (f" - {r.comment}" if r.comment else ""))
