"""Capture: the photographer checks a new shot at the station against the baseline photo of
its view (lighting, angle, distance, focus, camera settings, timestamps), sees what to do, lines
the head up with the baseline's ghost, and accepts or retakes; both are recorded with the
operator. Deep link: ``/capture?patient=P001&visit=month-6&view=vertex``."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import streamlit as st

from app_pages.common import STATUS_WORD, identity_input, kept_choice, ledger, protocol, signed_in_name
from photostation import review
from photostation.capture import GHOST_LEGEND, check_shot, record_capture, watched_shots
from photostation.errors import InputError

# A camera's largest JPEG or HEIC is well below this; larger uploads are refused by the browser.
# (Comments, not docstrings, in page scripts: Streamlit would draw a bare string on the page.)
MAX_UPLOAD_MB = 60
WATCH_FOLDER_ENV = "PHOTOSTATION_WATCH_FOLDER"

factory = ledger()
rules = protocol()
st.title("Capture")
if st.session_state.get("capture_told"):  # the last decision, after the page was emptied for the next shot
    st.success(st.session_state.pop("capture_told"))

visits = review.list_visits(factory)
known_patients = sorted({v.patient for v in visits})
stations = sorted({v.station for v in visits if v.station})
who, where = st.columns(2)
if signed_in_name() is not None:
    operator = identity_input("Operator", key="capture_operator", where=who)
else:
    operator = who.text_input("Operator (your initials or staff ID)", value=st.session_state.get("kept:operator", ""),
                              key="capture_operator")
    st.session_state["kept:operator"] = operator
station = where.selectbox("Station", stations + ["(not listed)"], key="capture_station") if stations else None
if station == "(not listed)":
    station = None

NEW = "(new patient)"
first, second, third = st.columns(3)
with first:
    choice = kept_choice("Patient", known_patients + [NEW], param="patient", key="capture_patient")
    patient = choice if choice != NEW else st.text_input("New patient code (pseudonymous, no names)",
                                                         key="capture_new_patient").strip()
with second:
    visit = kept_choice("Visit", [v.label for v in rules.schedule], param="visit", key="capture_visit")
with third:
    # The protocol's required views first, then its other global views and the close-up sites in use.
    in_use = {v for visit_ in visits for _, v, _ in review.photos_of_visit(factory, visit_.visit_id)}
    views = list(dict.fromkeys([*rules.views.required, *rules.views.global_views,
                                *sorted(v for v in in_use if rules.views.is_known(v))]))
    view = kept_choice("View", views, param="view", key="capture_view")
if not patient:
    st.info("Choose the patient (or type a new patient code) to start.")
    st.stop()

sources = ["Upload a file", "Take it with this device's camera"]
watch_folder = os.environ.get(WATCH_FOLDER_ENV)
if watch_folder:
    sources.append("Pick it from the watched folder")
source = st.radio("Shot", sources, horizontal=True, key="capture_source")
attempt = st.session_state.setdefault("capture_attempt", 0)  # a new key empties the widgets after a decision
data, name = None, None
if source == sources[0]:
    upload = st.file_uploader("The shot (JPEG, PNG, TIFF or HEIC)", key=f"capture_upload_{attempt}",
                              max_upload_size=MAX_UPLOAD_MB)
    if upload is not None:
        data, name = upload.getvalue(), upload.name
elif source == sources[1]:
    shot = st.camera_input("Take the shot", key=f"capture_camera_{attempt}")
    if shot is not None:
        data, name = shot.getvalue(), "camera.jpg"
else:
    try:
        found = watched_shots(Path(watch_folder), rules.views.extensions)
    except InputError as exc:
        st.error(str(exc))
        st.stop()
    if not found:
        st.info(f"No photo in the watched folder yet ({len(found)} files).")
        st.stop()
    picked = st.selectbox("Newest first", found, key=f"capture_watched_{attempt}",
                          format_func=lambda s: f"{s.name} ({s.modified:%H:%M:%S}, {s.size_bytes / 1e6:.1f} MB)")
    data, name = picked.path.read_bytes(), picked.name
if data is None:
    st.stop()


@st.cache_data(max_entries=4, show_spinner="checking the shot against the baseline...")
def _check(digest: str, name: str, patient: str, visit: str, view: str, stamp: tuple, _data: bytes):
    return check_shot(_data, name, patient, visit, view, factory, rules)


try:
    checked = _check(hashlib.sha256(data).hexdigest(), name, patient, visit, view, review.ledger_stamp(factory), data)
except InputError as exc:
    st.error(str(exc))
    st.stop()

headline = f"{STATUS_WORD[checked.verdict]}: {view} of {patient}, {visit} (checked in {checked.elapsed_s:.1f} s)"
{"pass": st.success, "warn": st.warning, "fail": st.error}[checked.verdict](headline)
if checked.baseline_missing:
    st.info(checked.baseline_missing)
if checked.existing:
    st.warning(f"This visit already has a {view} photo ({checked.existing}): accepting this shot will be refused; "
               "retake, or choose another visit or view.")
todo = [c for c in checked.checks if c.status != "pass"]
if todo:
    st.markdown("**What to do**")
    for c in todo:
        st.text(f"{STATUS_WORD[c.status]}  {c.name}: {c.message}")
with st.expander(f"All {len(checked.checks)} checks"):
    st.dataframe([{"status": STATUS_WORD[c.status], "check": c.name, "message": c.message} for c in checked.checks],
                 hide_index=True, width="stretch")
ghost_tab, shot_tab = st.tabs(["Ghost of the baseline over the shot", "The shot"])
with ghost_tab:
    if checked.ghost is not None:
        st.image(checked.ghost, width="stretch", output_format="JPEG",
                 caption=f"the baseline over the new shot; {GHOST_LEGEND}: line them up")
    else:
        st.info("No baseline photo of this view yet: no ghost to line up with.")
with shot_tab:
    st.image(checked.preview, width="stretch", output_format="JPEG")

accept, retake = st.columns(2)
decision = None
if accept.button("Accept the shot", type="primary", key="capture_accept"):
    decision = "accept"
if retake.button("Retake", key="capture_retake"):
    decision = "retake"
if decision:
    try:
        with st.spinner("storing the shot and adding it to the ledger..." if decision == "accept" else "recording..."):
            row = record_capture(factory, checked, data, decision, operator, station, rules)
    except InputError as exc:
        st.error(str(exc))
        st.stop()
    st.session_state["capture_attempt"] = attempt + 1
    st.session_state["capture_told"] = (f"Recorded: {row.decision} of {view} for {patient}, {visit}, by {row.operator}"
                                        + (" - stored in the archive and the ledger." if decision == "accept"
                                           else " - take the shot again."))
    st.rerun()
