"""Capture metadata from EXIF (JPEG, TIFF, HEIC/HEIF) with ``exifread``.

Only the EXIF standard tags are read (IFD0 and the Exif sub-IFD, CIPA DC-008 "Exif 2.32"),
not vendor maker notes: the fields below are the ones a camera writes in a standard
place and that a clinic can rely on across brands. Values agree with ExifTool's reading
of the same EXIF tags (tested on the real camera files in ``shared/realdata``).
"""
from __future__ import annotations

import datetime as dt
import io
import logging
import math
import re
from dataclasses import asdict, dataclass
from fractions import Fraction
from typing import Any

import exifread

from photostation.imaging import Source, read_bytes, read_header

# exifread logs every oddity of broken files at WARNING; those files are reported through
# checks instead, and log lines could carry identifying text from the file.
logging.getLogger("exifread").setLevel(logging.CRITICAL)

CONTRACT_KEYS = ("captured_at", "make", "model", "serial", "lens", "focal_length_mm", "exposure_time_s",
                 "f_number", "iso", "flash_fired", "white_balance", "software", "orientation", "width", "height")

_DATETIME = re.compile(r"^\s*(\d{4})[:\-](\d{2})[:\-](\d{2})[ T](\d{2}):(\d{2}):(\d{2})(.*)$")
_OFFSET = re.compile(r"^\s*([+-])(\d{2}):?(\d{2})\s*$")


@dataclass(frozen=True)
class PhotoMetadata:
    """Capture metadata of one photo. ``None`` means the tag is absent or unreadable.

    The first fifteen fields are the ``metadata`` object of ``photostation check --json``.
    """

    captured_at: str | None
    """DateTimeOriginal (+ SubSecTimeOriginal, + OffsetTimeOriginal) as ISO 8601."""
    make: str | None
    model: str | None
    serial: str | None
    """BodySerialNumber."""
    lens: str | None
    """LensModel."""
    focal_length_mm: float | None
    exposure_time_s: float | None
    f_number: float | None
    iso: int | None
    """PhotographicSensitivity (ISOSpeedRatings)."""
    flash_fired: bool | None
    white_balance: str | None
    """``"auto"`` or ``"manual"`` (EXIF WhiteBalance)."""
    software: str | None
    orientation: int | None
    """EXIF Orientation 1-8 as stored."""
    width: int | None
    """Pixel width as displayed (EXIF orientation / HEIF rotation applied)."""
    height: int | None
    modified_at: str | None = None
    """DateTime (the file's last change, written by the camera or an editor), ISO 8601."""
    focal_length_35mm: float | None = None
    sensor_long_side_mm: float | None = None
    """Sensor size along the long side, from the focal-plane resolution (camera intrinsics)."""
    format: str | None = None
    exif_problems: tuple[str, ...] = ()
    """Tags that were present but unreadable (garbage values), by name."""

    def contract(self) -> dict[str, Any]:
        """The fifteen keys of the ``metadata`` JSON contract."""
        return {key: getattr(self, key) for key in CONTRACT_KEYS}

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["exif_problems"] = list(self.exif_problems)
        return data

    @property
    def captured_datetime(self) -> dt.datetime | None:
        return parse_iso(self.captured_at)

    @property
    def modified_datetime(self) -> dt.datetime | None:
        return parse_iso(self.modified_at)


def parse_iso(text: str | None) -> dt.datetime | None:
    """Parse an ISO 8601 string written by this module (``None`` passes through)."""
    return dt.datetime.fromisoformat(text) if text else None


def _text(tag: Any) -> str | None:
    if tag is None:
        return None
    values = tag.values
    if isinstance(values, bytes):
        values = values.decode("utf-8", "replace")
    if not isinstance(values, str):
        values = str(tag)
    cleaned = values.replace("\x00", " ").strip()
    return cleaned or None


def _number(tag: Any) -> float | None:
    if tag is None:
        return None
    values = tag.values
    if isinstance(values, (list, tuple)):
        if not values:
            return None
        values = values[0]
    try:
        if hasattr(values, "numerator") and hasattr(values, "denominator"):
            if values.denominator == 0:
                return None
            value = float(Fraction(values.numerator, values.denominator))
        else:
            value = float(values)
    except (TypeError, ValueError, ZeroDivisionError, OverflowError):
        return None
    # Text tags may hold "nan", "inf" or "1e999": not numbers a camera writes.
    return value if math.isfinite(value) else None


def _offset(text: str | None) -> dt.timezone | None:
    if not text:
        return None
    text = text.strip()
    if text in ("Z", "z"):
        return dt.timezone.utc
    match = _OFFSET.match(text)
    if not match:
        return None
    sign, hours, minutes = match.groups()
    delta = dt.timedelta(hours=int(hours), minutes=int(minutes))
    if delta > dt.timedelta(hours=14):
        return None
    return dt.timezone(-delta if sign == "-" else delta)


def exif_datetime(value: str | None, subsec: str | None = None, offset: str | None = None) -> dt.datetime | None:
    """Combine EXIF date/time, sub-second and offset strings into a datetime.

    Parameters
    ----------
    value : str
        ``"YYYY:MM:DD HH:MM:SS"`` (EXIF 2.32, 4.6.5); a trailing ``Z`` or offset is accepted.
    subsec : str, optional
        SubSecTime* digits: the decimal fraction of the second (``"054"`` = 0.054 s).
    offset : str, optional
        OffsetTime* ``"+01:00"``.

    Returns
    -------
    datetime or None
        Timezone-aware when an offset is known; ``None`` when the value is blank, all
        zeros or not a real date.
    """
    if not value:
        return None
    match = _DATETIME.match(value)
    if not match:
        return None
    year, month, day, hour, minute, second, rest = match.groups()
    try:
        stamp = dt.datetime(int(year), int(month), int(day), int(hour), int(minute), int(second))
    except ValueError:
        return None
    digits = re.sub(r"\D", "", subsec or "")[:6]
    if digits:
        stamp = stamp.replace(microsecond=int(digits.ljust(6, "0")))
    zone = _offset(offset) or _offset(rest)
    return stamp.replace(tzinfo=zone) if zone else stamp


def _iso(stamp: dt.datetime | None) -> str | None:
    if stamp is None:
        return None
    return stamp.isoformat(timespec="milliseconds" if stamp.microsecond else "seconds")


def _process(data: bytes) -> tuple[dict[str, Any], bool]:
    try:
        return exifread.process_file(io.BytesIO(data), details=False), True
    except Exception:  # noqa: BLE001 - exifread raises many types on garbage; metadata is then absent
        return {}, False


def _read_tags(data: bytes, raw_exif: bytes | None) -> tuple[dict[str, Any], bool]:
    tags, readable = _process(data)
    if not any(key.startswith(("Image ", "EXIF ")) for key in tags) and raw_exif:
        # exifread stops at the first APP1 segment; when an XMP APP1 comes first (Adobe
        # software does this) the EXIF APP1 after it is missed. Read the block the image
        # decoder found instead (a plain TIFF structure).
        tags, readable = _process(raw_exif)
    return tags, readable


_FOCAL_PLANE_UNIT_MM = {2: 25.4, 3: 10.0, 4: 1.0, 5: 0.001}


def _sensor_long_side_mm(get: Any) -> float | None:
    """Sensor long side from FocalPlaneX/YResolution (pixels per unit) and the pixel dimensions."""
    res_x, res_y = _number(get("EXIF FocalPlaneXResolution")), _number(get("EXIF FocalPlaneYResolution"))
    unit = _number(get("EXIF FocalPlaneResolutionUnit"))
    width, height = _number(get("EXIF ExifImageWidth")), _number(get("EXIF ExifImageLength"))
    if not (res_x and res_y and width and height) or unit is None or int(unit) not in _FOCAL_PLANE_UNIT_MM:
        return None
    mm = _FOCAL_PLANE_UNIT_MM[int(unit)]
    side = max(width / res_x * mm, height / res_y * mm)
    return round(side, 3) if 1.0 <= side <= 100.0 else None


def read_metadata(source: Source, name: str = "photo") -> PhotoMetadata:
    """Read capture metadata of a photo.

    Parameters
    ----------
    source : Path, str or bytes
        File path or the file's bytes (JPEG, TIFF, PNG, HEIC/HEIF).
    name : str
        Name used in error messages.

    Returns
    -------
    PhotoMetadata

    Raises
    ------
    InputError
        When the file is empty or not an image.

    References
    ----------
    CIPA DC-008-2019, "Exchangeable image file format for digital still cameras: Exif
    Version 2.32".
    """
    data = source if isinstance(source, bytes) else read_bytes(source)
    header = read_header(data, name if isinstance(source, bytes) else str(source))
    tags, readable = _read_tags(data, header.exif)
    problems: list[str] = [] if readable else ["EXIF block"]

    def get(*names: str) -> Any:
        for key in names:
            if key in tags:
                return tags[key]
        return None

    def number(label: str, *names: str) -> float | None:
        tag = get(*names)
        value = _number(tag)
        if tag is not None and (value is None or value < 0):
            problems.append(label)
            return None
        return value

    raw_original = _text(get("EXIF DateTimeOriginal"))
    captured = exif_datetime(raw_original, _text(get("EXIF SubSecTimeOriginal")),
                             _text(get("EXIF OffsetTimeOriginal")))
    if raw_original and captured is None:
        problems.append("DateTimeOriginal")
    raw_modified = _text(get("Image DateTime"))
    modified = exif_datetime(raw_modified, _text(get("EXIF SubSecTime")), _text(get("EXIF OffsetTime")))
    if raw_modified and modified is None:
        problems.append("DateTime")

    iso_value = number("ISOSpeedRatings", "EXIF ISOSpeedRatings", "EXIF PhotographicSensitivity")
    flash = get("EXIF Flash")
    flash_code = _number(flash)
    white = _number(get("EXIF WhiteBalance"))
    orientation_tag = get("Image Orientation")
    orientation = _number(orientation_tag)
    if orientation_tag is not None and (orientation is None or not (1 <= orientation <= 8)):
        problems.append("Orientation")
        orientation = None

    return PhotoMetadata(
        captured_at=_iso(captured),
        sensor_long_side_mm=_sensor_long_side_mm(get),
        make=_text(get("Image Make")),
        model=_text(get("Image Model")),
        serial=_text(get("EXIF BodySerialNumber")),
        lens=_text(get("EXIF LensModel")),
        focal_length_mm=number("FocalLength", "EXIF FocalLength"),
        exposure_time_s=number("ExposureTime", "EXIF ExposureTime"),
        f_number=number("FNumber", "EXIF FNumber"),
        iso=int(iso_value) if iso_value is not None else None,
        flash_fired=bool(int(flash_code) & 1) if flash_code is not None else None,
        white_balance={0: "auto", 1: "manual"}.get(int(white)) if white is not None else None,
        software=_text(get("Image Software")),
        orientation=int(orientation) if orientation is not None else None,
        width=header.width,
        height=header.height,
        modified_at=_iso(modified),
        focal_length_35mm=number("FocalLengthIn35mmFilm", "EXIF FocalLengthIn35mmFilm") or None,
        format=header.format,
        exif_problems=tuple(problems),
    )
