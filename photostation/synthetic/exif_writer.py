"""Write JPEG files with camera-like EXIF metadata (for the synthetic sample archive).

Tag numbers and types follow the Exif 2.32 standard (CIPA DC-008-2019): tags of the
Exif sub-IFD (pointer 0x8769) go there, the rest (Make, Model, Orientation, Software,
DateTime) into IFD0.
"""

from __future__ import annotations

import io
import os
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image
from PIL.TiffImagePlugin import IFDRational

EXIF_IFD_POINTER = 0x8769

# Name -> (tag, in Exif sub-IFD?)
TAGS: dict[str, tuple[int, bool]] = {
    "Make": (0x010F, False),
    "Model": (0x0110, False),
    "Orientation": (0x0112, False),
    "Software": (0x0131, False),
    "DateTime": (0x0132, False),
    "ExposureTime": (0x829A, True),
    "FNumber": (0x829D, True),
    "ISOSpeedRatings": (0x8827, True),
    "ExifVersion": (0x9000, True),
    "DateTimeOriginal": (0x9003, True),
    "OffsetTime": (0x9010, True),
    "OffsetTimeOriginal": (0x9011, True),
    "Flash": (0x9209, True),
    "FocalLength": (0x920A, True),
    "SubSecTimeOriginal": (0x9291, True),
    "PixelXDimension": (0xA002, True),
    "PixelYDimension": (0xA003, True),
    "WhiteBalance": (0xA403, True),
    "FocalLengthIn35mmFilm": (0xA405, True),
    "BodySerialNumber": (0xA431, True),
    "LensModel": (0xA434, True),
}

FLASH_FIRED_COMPULSORY = 0x09
FLASH_OFF_COMPULSORY = 0x10
WHITE_BALANCE_CODES = {"auto": 0, "manual": 1}


@dataclass(frozen=True)
class ExifFields:
    """Camera metadata of one photo. ``None`` leaves a tag out.

    Attributes
    ----------
    make, model, serial, lens : str, optional
        Make (0x010F), Model (0x0110), BodySerialNumber (0xA431), LensModel (0xA434).
    focal_length_mm : float, optional
        FocalLength (0x920A, rational).
    focal_length_35mm : int, optional
        FocalLengthIn35mmFilm (0xA405).
    exposure_time_s : float or fractions.Fraction, optional
        ExposureTime (0x829A), written as a rational such as 1/125.
    f_number : float, optional
        FNumber (0x829D).
    iso : int, optional
        ISOSpeedRatings / PhotographicSensitivity (0x8827).
    flash_fired : bool, optional
        Flash (0x9209): 0x09 fired (compulsory mode), 0x10 not fired (compulsory off).
    white_balance : str, optional
        ``"auto"`` (0) or ``"manual"`` (1), WhiteBalance (0xA403).
    software : str, optional
        Software (0x0131), e.g. an editing program.
    captured_at : datetime, optional
        DateTimeOriginal (0x9003), SubSecTimeOriginal (0x9291, milliseconds) and, when
        timezone-aware, OffsetTimeOriginal (0x9011).
    modified_at : datetime, optional
        DateTime (0x0132) (and OffsetTime 0x9010 when aware); defaults to
        ``captured_at`` as a camera writes both equal.
    orientation : int
        Orientation (0x0112).
    width_px, height_px : int, optional
        PixelXDimension / PixelYDimension (0xA002 / 0xA003); default: the image size.
    omit : frozenset of str
        Tag names (keys of :data:`TAGS`) to leave out, e.g. ``{"DateTimeOriginal"}``.
    """

    make: str | None = None
    model: str | None = None
    serial: str | None = None
    lens: str | None = None
    focal_length_mm: float | None = None
    focal_length_35mm: int | None = None
    exposure_time_s: float | Fraction | None = None
    f_number: float | None = None
    iso: int | None = None
    flash_fired: bool | None = None
    white_balance: str | None = None
    software: str | None = None
    captured_at: datetime | None = None
    modified_at: datetime | None = None
    orientation: int = 1
    width_px: int | None = None
    height_px: int | None = None
    omit: frozenset[str] = field(default_factory=frozenset)

    def as_dict(self) -> dict:
        """JSON-friendly view (datetimes as ISO 8601, exposure as ``"1/125"``)."""
        out = {}
        for k in self.__dataclass_fields__:
            v = getattr(self, k)
            if isinstance(v, datetime):
                v = v.isoformat(timespec="milliseconds")
            elif isinstance(v, Fraction):
                v = f"{v.numerator}/{v.denominator}"
            elif isinstance(v, frozenset):
                v = sorted(v)
            out[k] = v
        return out


def _rational(value: float | Fraction, max_den: int = 10000) -> IFDRational:
    f = value if isinstance(value, Fraction) else Fraction(value).limit_denominator(max_den)
    return IFDRational(f.numerator, f.denominator)


def _exif_datetime(t: datetime) -> str:
    return t.strftime("%Y:%m:%d %H:%M:%S")


def _offset(t: datetime) -> str | None:
    off = t.utcoffset()
    if off is None:
        return None
    minutes = int(off.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def exif_tag_values(fields: ExifFields, image_size: tuple[int, int]) -> dict[str, object]:
    """The tag values a file gets, by tag name (after defaults and omissions).

    Parameters
    ----------
    fields : ExifFields
        Metadata.
    image_size : tuple of int
        ``(width, height)`` of the image, for the pixel-dimension tags.

    Returns
    -------
    dict
        Tag name -> Python value as written (str, int, or IFDRational).
    """
    v: dict[str, object] = {}
    for name, value in (("Make", fields.make), ("Model", fields.model),
                        ("BodySerialNumber", fields.serial), ("LensModel", fields.lens),
                        ("Software", fields.software)):
        if value is not None:
            v[name] = str(value)
    v["Orientation"] = int(fields.orientation)
    if fields.focal_length_mm is not None:
        v["FocalLength"] = _rational(fields.focal_length_mm)
    if fields.focal_length_35mm is not None:
        v["FocalLengthIn35mmFilm"] = int(round(fields.focal_length_35mm))
    if fields.exposure_time_s is not None:
        v["ExposureTime"] = _rational(fields.exposure_time_s, 100000)
    if fields.f_number is not None:
        v["FNumber"] = _rational(fields.f_number, 100)
    if fields.iso is not None:
        v["ISOSpeedRatings"] = int(fields.iso)
    if fields.flash_fired is not None:
        v["Flash"] = FLASH_FIRED_COMPULSORY if fields.flash_fired else FLASH_OFF_COMPULSORY
    if fields.white_balance is not None:
        v["WhiteBalance"] = WHITE_BALANCE_CODES[fields.white_balance]
    if fields.captured_at is not None:
        t = fields.captured_at
        v["DateTimeOriginal"] = _exif_datetime(t)
        v["SubSecTimeOriginal"] = f"{t.microsecond // 1000:03d}"
        if _offset(t):
            v["OffsetTimeOriginal"] = _offset(t)
    modified = fields.modified_at if fields.modified_at is not None else fields.captured_at
    if modified is not None:
        v["DateTime"] = _exif_datetime(modified)
        if _offset(modified):
            v["OffsetTime"] = _offset(modified)
    v["PixelXDimension"] = int(fields.width_px if fields.width_px is not None else image_size[0])
    v["PixelYDimension"] = int(fields.height_px if fields.height_px is not None
                               else image_size[1])
    v["ExifVersion"] = b"0232"
    unknown = set(fields.omit) - set(TAGS)
    if unknown:
        raise ValueError(f"unknown EXIF tag names to omit: {sorted(unknown)}")
    return {k: val for k, val in v.items() if k not in fields.omit}


def build_exif(fields: ExifFields, image_size: tuple[int, int]) -> Image.Exif:
    """Pillow ``Exif`` object holding the fields (IFD0 plus the Exif sub-IFD).

    Parameters
    ----------
    fields : ExifFields
        Metadata.
    image_size : tuple of int
        ``(width, height)`` for the pixel-dimension tags.

    Returns
    -------
    PIL.Image.Exif
    """
    exif = Image.Exif()
    sub = exif.get_ifd(EXIF_IFD_POINTER)
    for name, value in exif_tag_values(fields, image_size).items():
        tag, in_sub = TAGS[name]
        (sub if in_sub else exif)[tag] = value
    return exif


def _to_pil(image: np.ndarray) -> Image.Image:
    img = np.asarray(image)
    if img.dtype == np.uint16:
        # JPEG is 8-bit: round the 16-bit code values.
        img = np.round(img.astype(np.float64) / 257.0).astype(np.uint8)
    if img.dtype != np.uint8:
        raise TypeError("image must be uint8 or uint16 RGB")
    return Image.fromarray(img, "RGB" if img.ndim == 3 else "L")


def encode_jpeg(image: np.ndarray, fields: ExifFields | None = None, quality: int = 90
                ) -> bytes:
    """Encode an RGB image as JPEG bytes with optional EXIF.

    Parameters
    ----------
    image : numpy.ndarray
        ``(H, W, 3)`` uint8 (or uint16, rounded to 8 bit) sRGB.
    fields : ExifFields, optional
        Metadata; ``None`` writes no EXIF block at all.
    quality : int
        JPEG quality (libjpeg scale).

    Returns
    -------
    bytes
    """
    pil = _to_pil(image)
    buf = io.BytesIO()
    kwargs = {"quality": int(quality), "subsampling": 2, "optimize": True}
    if fields is not None:
        kwargs["exif"] = build_exif(fields, pil.size).tobytes()
    pil.save(buf, "JPEG", **kwargs)
    return buf.getvalue()


def write_jpeg(path: str | os.PathLike, image: np.ndarray, fields: ExifFields | None = None,
               quality: int = 90) -> Path:
    """Write a JPEG atomically (temporary file in the same folder, then ``os.replace``).

    Parameters
    ----------
    path : path-like
        Destination; parent folders are created.
    image : numpy.ndarray
        RGB image (uint8 or uint16).
    fields : ExifFields, optional
        Metadata, or ``None`` for a file without EXIF.
    quality : int
        JPEG quality.

    Returns
    -------
    pathlib.Path
        The written path.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = encode_jpeg(image, fields, quality)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; photos are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path
