"""The review app's pages (Streamlit scripts run by ``app.py``'s ``st.navigation``) and what
they share. Thin: they parse input, call photostation and pipelines, and draw."""
