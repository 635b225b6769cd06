"""What the review app's pages share: the ledger, the protocol, status words, and choices that
are kept across pages and in the URL (a deep link per patient, visit, view and pair)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Sequence

import streamlit as st

from photostation.errors import InputError
from photostation.imaging import decode
from photostation.ledger import ENV_DB, database_url, open_ledger, redact_url
from photostation.protocol import Protocol, load_protocol

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_images"
SCREEN_SIDE_PX = 1200  # longest side of an image sent to the browser: never the camera's 24 MP

# Words, not emoji: a station without a colour-emoji font would show boxes.
STATUS_WORD = {"pass": "PASS", "warn": "WARN", "fail": "FAIL"}
OUTCOME_WORDS = {"improved": "improved", "stable": "stable (no change beyond the protocol's threshold)",
                 "worse": "worse"}


@st.cache_resource(show_spinner=False)
def _ledger(url: str):
    return open_ledger(url, create=False)


@st.cache_resource(show_spinner=False)
def _first_start(url: str):
    from photostation.first_start import start_with_samples

    return start_with_samples(url, SAMPLES, protocol())


@st.cache_resource(show_spinner=False)
def protocol() -> Protocol:
    return load_protocol(os.environ.get("PHOTOSTATION_PROTOCOL") or None)


def ledger():
    """The ledger of ``$PHOTOSTATION_DB`` (default: the embedded ``./photostation.db``).

    The app opens only this configured ledger; there is no field to point it elsewhere. On the
    embedded default, an absent or empty ledger is filled with the sample archive first.
    Anything wrong is one message in the page and a stop, never a traceback.
    """
    url = database_url(None)
    try:
        if os.environ.get(ENV_DB) is None:
            with st.spinner("First start: copying the sample archive and checking its photos (about a minute)..."):
                started = _first_start(url)
            if started is not None and not st.session_state.get("first_start_told"):
                st.info(f"First start: the ledger was empty, so the sample archive ({started.patients} patients, "
                        f"{started.photos} photos) was copied to {started.archive} and ingested.")
                st.session_state["first_start_told"] = True
        factory = _ledger(url)
    except InputError as exc:
        st.error(f"The ledger cannot be opened: {exc}")
        st.stop()
    st.sidebar.caption(f"ledger: {redact_url(url)}")
    return factory


def kept_choice(label: str, options: Sequence[Any], *, param: str, key: str,
                ident: Callable[[Any], str] = str, format_func: Callable[[Any], str] = str,
                sidebar: bool = False) -> Any:
    """A select box whose choice survives a change of page and is in the URL (``?param=``).

    The URL's value wins (a deep link), then this session's last choice, then the first option.
    """
    idents = [ident(o) for o in options]
    remembered = f"kept:{param}"
    wanted = st.query_params.get(param) or st.session_state.get(remembered)
    index = idents.index(wanted) if wanted in idents else 0
    where = st.sidebar if sidebar else st
    choice = where.selectbox(label, options, index=index, key=key, format_func=format_func)
    chosen = ident(choice)
    if st.query_params.get(param) != chosen:
        st.query_params[param] = chosen
    st.session_state[remembered] = chosen
    return choice


@st.cache_data(max_entries=32, show_spinner=False)
def screen_image(path: str, modified: float) -> Any:
    """A photo decoded at screen resolution (cached per file version)."""
    return decode(Path(path), max_side=SCREEN_SIDE_PX)


def show_photo(path: Path | None, caption: str) -> None:
    if path is None or not path.is_file():
        st.warning(f"photo file not found: {caption}")
        return
    try:
        st.image(screen_image(str(path), path.stat().st_mtime), caption=caption, width="stretch",
                 output_format="JPEG")
    except InputError as exc:
        st.error(str(exc))


def figure(value: Any, unit: str, digits: int = 1, signed: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:{'+' if signed else ''}.{digits}f} {unit}".strip()


def to_screen(rgb: Any) -> Any:
    """An image no larger than the screen needs (the browser never gets the camera's pixels)."""
    import cv2

    h, w = rgb.shape[:2]
    factor = SCREEN_SIDE_PX / max(h, w)
    if factor >= 1:
        return rgb
    return cv2.resize(rgb, (max(1, round(w * factor)), max(1, round(h * factor))), interpolation=cv2.INTER_AREA)


def signed_in_name() -> str | None:
    """Who is signed in through the clinic's login (Streamlit's OIDC ``st.login``), or None
    when the app runs without one (then people type their initials)."""
    try:
        if st.user.get("is_logged_in"):
            return str(st.user.get("email") or st.user.get("name") or "").strip() or None
    except (AttributeError, KeyError, RuntimeError):
        return None
    return None


def identity_input(label: str, key: str, *, where: Any = None) -> str:
    """The reviewer's or operator's identity: taken from the login when there is one (and not
    editable), else typed."""
    where = where or st
    name = signed_in_name()
    if name is not None:
        where.text_input(label, value=name, disabled=True, key=key, help="from the clinic's login")
        return name
    return where.text_input(label, key=key)


def require_login() -> None:
    """When the clinic configured a login (``[auth]`` in ``.streamlit/secrets.toml``), nobody
    sees a page before signing in."""
    try:
        configured = "auth" in st.secrets
    except Exception:  # noqa: BLE001 - no secrets file, or an unreadable one: no login configured
        configured = False
    if configured and not st.user.get("is_logged_in"):
        st.title("photostation")
        st.button("Sign in with the clinic's account", on_click=st.login, type="primary")
        st.stop()
