"""Measure the photo shown on the Visits page (``photostation measure``); a trichoscopy count
can be downloaded, corrected and measured again."""
from __future__ import annotations

import tempfile
from pathlib import Path

import streamlit as st

from photostation.errors import InputError
from app_pages.common import to_screen
from photostation.imaging import decode
from photostation.protocol import Protocol


@st.cache_data(max_entries=8, show_spinner="measuring...")
def _measure(path: str, modified: float, mm_per_px: float, hairs_csv: bytes | None, _protocol: Protocol):
    """``photostation measure`` of one photo (cached per file version, scale and hairs file)."""
    from pipelines.measure import measure_photo, measurement_overlay

    with tempfile.TemporaryDirectory() as folder:
        hairs_file = None
        if hairs_csv is not None:
            hairs_file = Path(folder) / "hairs.csv"
            hairs_file.write_bytes(hairs_csv)
        result = measure_photo(path, _protocol, mm_per_px=mm_per_px or None, hairs_file=hairs_file)
    overlay = measurement_overlay(decode(path), result)
    return result.to_json(), to_screen(overlay), result


def measure_panel(path: Path, view: str, protocol: Protocol) -> None:
    from pipelines.hairs_file import hairs_csv

    if not st.toggle("Measure hairs / coverage", key="measure_on"):
        return
    scale = st.number_input("Scale, mm per pixel (0 = from the card or station profile)", min_value=0.0,
                            value=0.0, step=0.0001, format="%.5f", key="measure_scale")
    corrected = st.file_uploader("Corrected hairs file (CSV from the download below)", type=["csv"],
                                 key="measure_hairs")
    try:
        data, overlay, result = _measure(str(path), path.stat().st_mtime, scale,
                                         corrected.getvalue() if corrected is not None else None, protocol)
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
