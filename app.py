"""photostation review UI (Streamlit): Capture for the photographer, Compare and sign-off for
the clinician, Audit for the auditor, and the Visits list. Thin: each page (``app_pages/``)
reads the ledger through photostation and pipelines and draws; the logic lives in the packages.

    streamlit run app.py            # ledger from $PHOTOSTATION_DB, else ./photostation.db

On the embedded default, an absent or empty ledger is filled with the sample archive first.
Deep links: /?patient=P001&visit=month-6&view=vertex (Visits), /compare?patient=P001&pair=month-6/vertex,
/capture?patient=P001&visit=month-6&view=vertex, /audit.
"""
from __future__ import annotations

import streamlit as st

st.set_page_config(page_title="photostation", layout="wide")

from app_pages.common import require_login  # noqa: E402  (after the page configuration)

require_login()

pages = [
    st.Page("app_pages/visits.py", title="Visits", url_path="visits", default=True),
    st.Page("app_pages/capture.py", title="Capture", url_path="capture"),
    st.Page("app_pages/compare.py", title="Compare", url_path="compare"),
    st.Page("app_pages/audit.py", title="Audit", url_path="audit"),
]
st.navigation(pages).run()
