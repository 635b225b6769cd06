"""Compare: a baseline photo against a follow-up of the same view, registered; side by side,
wipe, flicker and blend; the hairs matched, lost and new, with corrections; the change in words
with its interval; sign-off. Results are read from the ledger: "Compare" computes and stores
them once. Deep link: ``/compare?patient=P001&pair=month-6/tricho-vertex``."""
from __future__ import annotations

import streamlit as st

from app_pages.common import kept_choice, ledger, protocol
from photostation import review
from photostation.errors import InputError
from photostation.ledger import database_url

factory = ledger()
st.title("Compare")

patients = sorted({v.patient for v in review.list_visits(factory)})
if not patients:
    st.info("The ledger is empty: run `photostation ingest ARCHIVE` first.")
    st.stop()
left, right = st.columns(2)
with left:
    patient = kept_choice("Patient", patients, param="patient", key="compare_patient")
pairs = review.comparable_pairs(factory, patient)
if not pairs:
    st.info(f"{patient} has no follow-up photo with a baseline photo of the same view: nothing to compare yet.")
    st.stop()
with right:
    pair = kept_choice("Photos", pairs, param="pair", key="compare_pair",
                       ident=lambda p: f"{p.followup_visit}/{p.view}",
                       format_func=lambda p: f"{p.view}: baseline vs {p.followup_visit}")
stored = review.stored_comparison(factory, pair.followup_id)

with st.expander("Compare (again)" if stored is not None else "Compare", expanded=stored is None):
    mm_per_px = st.number_input("Scale, mm per pixel of the baseline (0 = from the card, the station profile or "
                                "the protocol)", min_value=0.0, value=0.0, step=0.0001, format="%.6f",
                                key="compare_scale")
    label = "Compare" if stored is None else "Compare again"
    if st.button(label, key="compare_run", type="primary" if stored is None else "secondary"):
        from pipelines.audit import compare_and_store

        with st.spinner("registering the follow-up to the baseline and measuring both (a few seconds)..."):
            try:
                compare_and_store(factory, pair.baseline_id, pair.followup_id, protocol(),
                                  mm_per_px=mm_per_px or None, db_url=database_url(None))
            except InputError as exc:
                st.error(str(exc))
                st.stop()
        stored = review.stored_comparison(factory, pair.followup_id)
if stored is None:
    st.info("Not compared yet: press Compare (or run `photostation audit`). The result is stored in the ledger.")
    st.stop()

from app_pages.compare_views import show_comparison  # noqa: E402  (after the page's guards)

show_comparison(factory, pair, stored, protocol())
