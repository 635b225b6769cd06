"""The Compare page's result: figures in words, the registered views, the hair overlay with
corrections, and sign-off. Everything shown comes from the ledger (the stored comparison, its
hair lists, corrections and sign-offs); the images are decoded at screen resolution."""
from __future__ import annotations

from typing import Any

import numpy as np
import streamlit as st

from app_pages.common import OUTCOME_WORDS, figure, identity_input, screen_image
from photostation import review
from photostation.errors import InputError
from photostation.protocol import Protocol


def _when(stored: review.StoredComparison) -> str:
    return f"{stored.computed_at:%Y-%m-%d %H:%M} UTC"


def show_comparison(factory, pair: review.ComparablePair, stored: review.StoredComparison, protocol: Protocol) -> None:
    """A stored comparison: nothing shown as a figure when the pair is not comparable."""
    if not stored.current:
        st.warning("A photo changed since this comparison was stored: compare again.")
    if stored.result is None:
        st.error(f"The comparison could not run ({_when(stored)}): {stored.error}")
        return
    data = stored.result
    if not data["comparable"]:
        st.error(f"Not comparable ({_when(stored)}). Why:")
        for flag in data["flags"]:
            st.text(f"- {flag}")  # plain text, never Markdown
        _photos_side_by_side(factory, pair, registered=False)
        _sign_off(factory, pair, stored, None)
        return
    correction = _correction_in_force(factory, pair)
    _figures(data, stored, correction)
    views = ["Side by side", "Wipe", "Flicker", "Blend"]
    hairs = _stored_hairs(factory, pair) if data["view"] == "trichoscopy" else None
    if hairs is not None and data["baseline"]["hair_count"] is not None:
        views.append("Hairs and corrections")
    tabs = st.tabs(views)
    images = _registered(factory, pair, data)
    with tabs[0]:
        _photos_side_by_side(factory, pair, registered=True, images=images)
    with tabs[1]:
        _wipe(images)
    with tabs[2]:
        _flicker(images)
    with tabs[3]:
        _blend(images)
    if len(tabs) > 4:
        with tabs[4]:
            _hairs(factory, pair, data, hairs, images, correction, protocol)
    _sign_off(factory, pair, stored, correction)


def _figures(data: dict[str, Any], stored: review.StoredComparison, correction) -> None:
    change = data["change"]
    outcome = change["outcome"]
    st.success(f"Comparable ({data['view']}, {_when(stored)}); outcome: "
               + (OUTCOME_WORDS.get(outcome, outcome) if outcome else "none - see the flags"))
    rows = [{"": side, "hairs": data[side]["hair_count"],
             "density": figure(data[side]["density_per_cm2"], "hairs/cm²"),
             "coverage": figure(data[side]["coverage_pct"], "%")} for side in ("baseline", "followup")]
    st.dataframe(rows, hide_index=True, width="stretch")
    if change["density_per_cm2"] is not None:
        low, high = change["ci95_density_per_cm2"]
        st.write(f"Density change: {change['density_per_cm2']:+.1f} hairs/cm² "
                 f"(95 % interval {low:+.1f} to {high:+.1f})")
    if change["coverage_pct_points"] is not None:
        low, high = change["ci95_coverage_pct_points"]
        st.write(f"Coverage change: {change['coverage_pct_points']:+.2f} points "
                 f"(95 % interval {low:+.2f} to {high:+.2f})")
    scale = data.get("scale") or {}
    if scale.get("mm_per_px"):
        source = scale.get("source")
        source = "typed in" if source == "--mm-per-px" else f"from {source or 'an unknown source'}"
        st.caption(f"scale {scale['mm_per_px']:.6f} mm per pixel, {source}")
    for flag in data["flags"]:
        st.warning(flag)
    if correction is not None:
        fixed = correction.result
        low, high = fixed["ci95_density_per_cm2"]
        st.info(f"Corrected by {correction.reviewer} ({correction.role}) on {correction.created_at:%Y-%m-%d %H:%M} "
                f"UTC: baseline {fixed['baseline_hair_count']} hairs "
                f"(automatic {fixed['automatic']['baseline_hair_count']}), "
                f"follow-up {fixed['followup_hair_count']} (automatic {fixed['automatic']['followup_hair_count']}); "
                f"density change {fixed['density_change_per_cm2']:+.1f} hairs/cm² (95 % interval {low:+.1f} to "
                f"{high:+.1f}); outcome: {OUTCOME_WORDS.get(fixed['outcome'], fixed['outcome'])}")


@st.cache_data(max_entries=8, show_spinner="drawing the registered pair...")
def _registered_images(base_path: str, base_mtime: float, follow_path: str, follow_mtime: float,
                       matrix: tuple[tuple[float, ...], ...] | None, base_size: tuple[int, int] | None,
                       follow_size: tuple[int, int] | None) -> dict[str, np.ndarray]:
    from pipelines.pair_views import registered_followup

    base = screen_image(base_path, base_mtime)
    follow = screen_image(follow_path, follow_mtime)
    images = {"baseline": base, "followup": follow}
    if matrix is not None:
        images["registered"] = registered_followup(base, follow, np.array(matrix, float),
                                                   base_size or (base.shape[1], base.shape[0]),
                                                   follow_size or (follow.shape[1], follow.shape[0]))
    return images


def _registered(factory, pair: review.ComparablePair, data: dict[str, Any]) -> dict[str, np.ndarray] | None:
    if not (pair.baseline_path.is_file() and pair.followup_path.is_file()):
        st.warning("A photo file of this pair is missing from the archive.")
        return None
    matrix = (data.get("registration") or {}).get("matrix")
    try:
        return _registered_images(str(pair.baseline_path), pair.baseline_path.stat().st_mtime,
                                  str(pair.followup_path), pair.followup_path.stat().st_mtime,
                                  tuple(tuple(row) for row in matrix) if matrix else None,
                                  pair.baseline_size_px, pair.followup_size_px)
    except InputError as exc:
        st.error(str(exc))
        return None


def _photos_side_by_side(factory, pair: review.ComparablePair, *, registered: bool,
                         images: dict[str, np.ndarray] | None = None) -> None:
    if images is None:
        images = _registered(factory, pair, {})
    if images is None:
        return
    left, right = st.columns(2)
    left.image(images["baseline"], caption="baseline", width="stretch", output_format="JPEG")
    if registered and "registered" in images:
        right.image(images["registered"], caption=f"{pair.followup_visit}, registered onto the baseline",
                    width="stretch", output_format="JPEG")
    else:
        right.image(images["followup"], caption=f"{pair.followup_visit} (as taken)", width="stretch",
                    output_format="JPEG")


def _wipe(images: dict[str, np.ndarray] | None) -> None:
    if not images or "registered" not in images:
        st.info("No registration: nothing to wipe between.")
        return
    from pipelines.pair_views import wipe

    position = st.slider("Wipe: baseline on the left, follow-up on the right", 0.0, 1.0, 0.5, 0.01, key="wipe_at")
    st.image(wipe(images["baseline"], images["registered"], position), width="stretch", output_format="JPEG")


@st.cache_data(max_entries=4, show_spinner=False)
def _flicker_gif(base: np.ndarray, follow: np.ndarray, period_ms: int) -> bytes:
    from pipelines.pair_views import flicker_gif

    return flicker_gif(base, follow, period_ms)


def _flicker(images: dict[str, np.ndarray] | None) -> None:
    if not images or "registered" not in images:
        st.info("No registration: nothing to flicker between.")
        return
    period = st.select_slider("Flicker: time on each photo (ms)", [300, 500, 700, 1000, 1500], 700, key="flicker_ms")
    st.image(_flicker_gif(images["baseline"], images["registered"], period), width="stretch",
             caption="baseline and follow-up in turn: what moves or changes stands out")


def _blend(images: dict[str, np.ndarray] | None) -> None:
    if not images or "registered" not in images:
        st.info("No registration: nothing to blend.")
        return
    from pipelines.pair_views import blend

    alpha = st.slider("Blend: share of the follow-up", 0.0, 1.0, 0.5, 0.05, key="blend_alpha")
    st.image(blend(images["baseline"], images["registered"], alpha), width="stretch", output_format="JPEG")


def _stored_hairs(factory, pair: review.ComparablePair):
    from pipelines.corrections import stored_hairs

    return stored_hairs(factory, pair.followup_id)


def _correction_in_force(factory, pair: review.ComparablePair):
    from pipelines.corrections import current_correction

    return current_correction(factory, pair.followup_id)


def _edits_key(pair: review.ComparablePair) -> str:
    return f"hair_edits:{pair.followup_id}"


def _hairs(factory, pair: review.ComparablePair, data: dict[str, Any], hairs, images, correction,
           protocol: Protocol) -> None:
    """The hairs matched, lost and new on each photo, numbered; the clinician removes false hairs
    by number and adds missed ones at the zoom's cross, then saves the correction."""
    from pipelines.corrections import HairEdits, correction_history, save_correction
    from pipelines.pair_views import LEGEND, hair_overlay, zoom

    if images is None:
        return
    key = _edits_key(pair)
    if key not in st.session_state:
        st.session_state[key] = (correction.edits if correction is not None else HairEdits()).to_json()
    edits = st.session_state[key]
    side = st.radio("Photo", ["baseline", "followup"], horizontal=True, key="hairs_side",
                    format_func=lambda s: "baseline" if s == "baseline" else f"follow-up ({pair.followup_visit})")
    listed = hairs[0] if side == "baseline" else hairs[1]
    shown = images["baseline"] if side == "baseline" else images["followup"]
    width_px = ((pair.baseline_size_px if side == "baseline" else pair.followup_size_px)
                or (shown.shape[1], shown.shape[0]))[0]
    factor = shown.shape[1] / width_px
    zoom_by = st.select_slider("Zoom", [1, 2, 3, 4, 6, 8], 1, key="hairs_zoom")
    across, down = st.columns(2)
    centre_x = across.slider("Zoom centre, across (%)", 0, 100, 50, key="hairs_cx")
    centre_y = down.slider("Zoom centre, down (%)", 0, 100, 50, key="hairs_cy")
    overlay = hair_overlay(shown, listed, factor, removed=edits[side]["removed"],
                           added=edits[side]["added"], side=side)
    view, box = zoom(overlay, (centre_x / 100, centre_y / 100), zoom_by)
    st.image(view, width="stretch", caption="  ".join(f"{status}: {colour}" for status, colour in LEGEND.items())
             + "; the cross marks the zoom centre")
    st.caption(f"{len(listed)} hairs found on this photo in the common area; numbers as drawn.")
    removed = st.multiselect("False hairs to remove (numbers on the photo)", list(range(len(listed))),
                             default=[i for i in edits[side]["removed"] if i < len(listed)], key=f"remove_{side}",
                             format_func=lambda i: f"#{i} ({listed[i]['status']})")
    edits[side]["removed"] = sorted(removed)
    add, undo = st.columns(2)
    if add.button("Add a missed hair at the cross", key=f"add_{side}"):
        x = (box[0] + (box[2] - box[0]) / 2) / factor
        y = (box[1] + (box[3] - box[1]) / 2) / factor
        edits[side]["added"].append([round(x, 1), round(y, 1)])
        st.rerun()
    if edits[side]["added"] and undo.button("Undo the last added hair", key=f"undo_{side}"):
        edits[side]["added"].pop()
        st.rerun()
    st.caption(f"this photo: {len(edits[side]['removed'])} removed, {len(edits[side]['added'])} added")
    with st.form("save_correction"):
        reviewer = identity_input("Your initials or staff ID", key="correction_reviewer")
        role = st.selectbox("Role", ("clinician", "auditor"), key="correction_role")
        if st.form_submit_button("Save the corrected count"):
            try:
                saved = save_correction(factory, pair.followup_id, HairEdits.from_json(edits), reviewer, role,
                                        protocol.compare.density_change_threshold_per_cm2)
                st.success(f"correction saved by {saved.reviewer}: the automatic count is kept beside it")
                st.rerun()
            except InputError as exc:
                st.error(str(exc))
    for row in correction_history(factory, pair.followup_id):
        fixed = row.result
        st.text(f"{row.created_at:%Y-%m-%d %H:%M} · {row.role} {row.reviewer}: baseline "
                f"{fixed['baseline_hair_count']}, follow-up {fixed['followup_hair_count']} hairs; change "
                f"{fixed['density_change_per_cm2']:+.1f} hairs/cm²")


def _sign_off(factory, pair: review.ComparablePair, stored: review.StoredComparison, correction) -> None:
    st.subheader("Sign-off")
    if not stored.current:
        st.caption("Compare again before signing: a photo changed since this comparison was stored.")
    else:
        with st.form("sign_off"):
            reviewer = identity_input("Your initials or staff ID", key="signoff_reviewer")
            role = st.selectbox("Role", review.SIGNING_ROLES, key="signoff_role")
            use_correction = False
            if correction is not None:
                use_correction = st.checkbox("Sign the corrected figures", value=True, key="signoff_corrected")
            note = st.text_area("Note (no patient names)", key="signoff_note")
            if st.form_submit_button("Sign off this comparison"):
                try:
                    row = review.sign_off(factory, pair.followup_id, reviewer, role, note,
                                          correction.id if use_correction and correction is not None else None)
                    st.success(f"signed off by {row.reviewer}")
                except InputError as exc:
                    st.error(str(exc))
    # The review trail, after the form so that a new sign-off shows at once; plain text only.
    for row in review.sign_offs(factory, pair.followup_id):
        what = "the corrected figures" if row.correction_id else "the automatic figures"
        stale = "" if row.current else " (a photo changed since)"
        st.text(f"{row.signed_at:%Y-%m-%d %H:%M} · signed by {row.role} {row.reviewer}, {what}{stale}"
                + (f": {row.note}" if row.note else ""))
