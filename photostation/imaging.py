"""Decoding photos to pixels: JPEG, TIFF, PNG and HEIC/HEIF, with the EXIF orientation applied.

Every reader takes either a path or the file's bytes, so ingest can hash, read metadata and
decode from one read of the file (the bytes that were fingerprinted are the bytes analysed).
"""
from __future__ import annotations

import io
import re
import struct
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pillow_heif
from PIL import Image, ImageOps, UnidentifiedImageError

from photostation.errors import InputError

pillow_heif.register_heif_opener()

# Refuse decompression bombs with a clear error instead of Pillow's warning (300 Mpx is far
# above any clinical camera). Pillow itself only raises above twice this; :func:`_open` refuses
# everything above it, before any pixel is decoded.
Image.MAX_IMAGE_PIXELS = 300_000_000
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

Source = Path | str | bytes


@dataclass(frozen=True)
class ImageHeader:
    """What the file header says, without decoding the pixels."""

    format: str
    mode: str
    width: int
    height: int
    """Pixel size as displayed, i.e. after the EXIF orientation / HEIF rotation."""
    exif: bytes | None = field(default=None, repr=False)
    """The raw EXIF block as the decoder found it (TIFF structure, ``Exif\\0\\0`` prefix removed)."""


def read_bytes(path: Path | str) -> bytes:
    """Read a whole file, turning OS errors into :class:`InputError`."""
    path = Path(path)
    shown = _shown(str(path))
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"file not found: {shown}") from None
    except IsADirectoryError:
        raise InputError(f"not a file: {shown}") from None
    except OSError as exc:
        raise InputError(f"cannot read {shown}: {exc.strerror or exc.__class__.__name__}") from None
    if not data:
        raise InputError(f"empty file (0 bytes): {shown}")
    return data


def _shown(name: str) -> str:
    """A file name for a one-line message: control characters (a newline) shown escaped."""
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], name)


def _reason(exc: Exception) -> str:
    """A decoder's error on one line (pillow-heif's messages span several)."""
    return _shown(" ".join(str(exc).split()))


def _open(source: Source, name: str) -> Image.Image:
    data = source if isinstance(source, bytes) else read_bytes(source)
    name = _shown(name)
    if not data:
        raise InputError(f"empty file (0 bytes): {name}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            img = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise InputError(f"not an image file (unknown format): {name}") from None
    except Image.DecompressionBombError:
        raise InputError(f"image too large to decode safely: {name}") from None
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise InputError(f"unreadable image header: {name} ({_reason(exc)})") from None
    width, height = img.size
    if width * height > Image.MAX_IMAGE_PIXELS:
        raise InputError(f"image too large to decode safely ({width} x {height} pixels, the limit is "
                         f"{Image.MAX_IMAGE_PIXELS / 1e6:g} megapixels): {name}")
    return img


def _orientation(img: Image.Image) -> int:
    # HEIF rotation is applied by the decoder (pillow-heif) and the EXIF tag is then reset to 1.
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow warns about odd tags (printed on stderr otherwise)
            value = img.getexif().get(0x0112, 1)
    except Exception:  # noqa: BLE001 - broken EXIF must not stop decoding; it is reported elsewhere
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _boxes(data: bytes, start: int, end: int):
    """(type, payload start, box end) of the ISO-BMFF boxes in ``data[start:end]``."""
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack(">I4s", data[pos:pos + 8])
        header = 8
        if size == 1 and pos + 16 <= end:
            size, header = struct.unpack(">Q", data[pos + 8:pos + 16])[0], 16
        elif size == 0:
            size = end - pos
        if size < header:
            return
        yield kind, pos + header, pos + size
        pos += size


def _heif_data_end(data: bytes) -> int | None:
    """The file offset where the HEIF items' data ends according to the item locations (``iloc``,
    ISO/IEC 14496-12 8.11.3), or ``None`` when they cannot be read.

    libheif decodes a grid image whose tiles lie past the end of a truncated file without an
    error (the missing tiles come out as flat colour), so truncation is detected here.
    """
    meta = next(((s, e) for kind, s, e in _boxes(data, 0, len(data)) if kind == b"meta"), None)
    if meta is None:
        return None
    iloc = next(((s, e) for kind, s, e in _boxes(data, meta[0] + 4, min(meta[1], len(data))) if kind == b"iloc"),
                None)
    if iloc is None:
        return None
    box, pos = data[iloc[0]:iloc[1]], 0

    def read(n: int) -> int:
        nonlocal pos
        if pos + n > len(box):
            raise ValueError("iloc box truncated")
        value = int.from_bytes(box[pos:pos + n], "big")
        pos += n
        return value

    try:
        version = read(4) >> 24
        sizes = read(2)
        offset_size, length_size, base_size = sizes >> 12, (sizes >> 8) & 15, (sizes >> 4) & 15
        index_size = sizes & 15 if version in (1, 2) else 0
        end = 0
        for _ in range(read(2 if version < 2 else 4)):
            read(2 if version < 2 else 4)  # item ID
            method = read(2) & 15 if version in (1, 2) else 0
            read(2)  # data reference index
            base = read(base_size)
            for _ in range(read(2)):
                read(index_size)
                offset, length = read(offset_size), read(length_size)
                if method == 0:  # a file offset (1 and 2 point into the meta box or another item)
                    end = max(end, base + offset + length)
    except ValueError:
        return None
    return end


def read_header(source: Source, name: str = "photo") -> ImageHeader:
    """Read format and displayed pixel size from the header (no pixel decoding).

    Parameters
    ----------
    source : Path, str or bytes
        File path or the file's bytes.
    name : str
        Name used in error messages.

    Returns
    -------
    ImageHeader
    """
    img = _open(source, name if isinstance(source, bytes) else str(source))
    width, height = img.size
    if _orientation(img) in (5, 6, 7, 8):
        width, height = height, width
    exif = img.info.get("exif")
    if isinstance(exif, bytes) and exif.startswith(b"Exif\x00\x00"):
        exif = exif[6:]
    return ImageHeader(format=img.format or "unknown", mode=img.mode, width=width, height=height,
                       exif=exif if isinstance(exif, bytes) and exif else None)


def decode(source: Source, name: str = "photo", *, max_side: int | None = None) -> np.ndarray:
    """Decode a photo to an RGB array with the EXIF orientation applied.

    Parameters
    ----------
    source : Path, str or bytes
        File path or the file's bytes.
    name : str
        Name used in error messages.
    max_side : int, optional
        Decode at reduced resolution so that the longer side is at most about this many
        pixels (JPEG uses the decoder's DCT scaling, which is much faster than a full decode
        followed by a resize). ``None`` decodes at full resolution.

    Returns
    -------
    numpy.ndarray
        ``(H, W, 3)`` array, ``uint8`` for 8-bit sources and ``uint16`` for 16-bit sources
        (TIFF/PNG 16-bit, HDR HEIF). Grey-scale is expanded to three channels; CMYK and
        palette images are converted to RGB; alpha is dropped.

    Raises
    ------
    InputError
        When the file is not an image or its pixel data is truncated or corrupt.
    """
    label = _shown(name if isinstance(source, bytes) else str(source))
    data = source if isinstance(source, bytes) else read_bytes(source)
    img = _open(data, label)
    if img.format == "HEIF":
        end = _heif_data_end(data)
        if end is not None and end > len(data):
            raise InputError(f"pixel data truncated ({len(data)} of {end} bytes): {label}")
    if max_side and img.format == "JPEG":
        w, h = img.size
        scale = max(w, h) / max_side
        if scale >= 2:
            img.draft("RGB", (int(w / scale), int(h / scale)))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            img.load()
    except Image.DecompressionBombError:
        raise InputError(f"image too large to decode safely: {label}") from None
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        # pillow-heif raises EOFError for a cut-off HEVC stream (click would take it for Ctrl-D).
        text = _reason(exc)
        truncated = isinstance(exc, EOFError) or "truncated" in text.lower()
        reason = "pixel data truncated" if truncated else f"pixel data unreadable ({text})"
        raise InputError(f"{reason}: {label}") from None
    if _orientation(img) != 1:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            img = ImageOps.exif_transpose(img)
    array = _to_rgb_array(img)
    if max_side and max(array.shape[:2]) > max_side * 1.5:
        import cv2

        scale = max_side / max(array.shape[:2])
        size = (max(1, round(array.shape[1] * scale)), max(1, round(array.shape[0] * scale)))
        array = cv2.resize(array, size, interpolation=cv2.INTER_AREA)
    return array


def _to_rgb_array(img: Image.Image) -> np.ndarray:
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        grey = np.asarray(img, dtype=np.uint32 if mode == "I" else np.uint16)
        grey = np.clip(grey, 0, 65535).astype(np.uint16)
        return np.repeat(grey[:, :, None], 3, axis=2)
    array = np.asarray(img)
    if array.dtype == np.uint16 and array.ndim == 3:
        return np.ascontiguousarray(array[:, :, :3])
    if mode == "RGB":
        return np.ascontiguousarray(array)
    if mode in ("L", "1"):
        grey = np.asarray(img.convert("L"))
        return np.repeat(grey[:, :, None], 3, axis=2)
    return np.asarray(img.convert("RGB"))
