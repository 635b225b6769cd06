"""Every input gets an answer, not a crash (issue 17, part 1).

Hostile files go through ``check``, ``measure``, ``calibrate``, ``compare`` and ``ingest``
in-process: zero-byte, truncated and corrupted JPEG/PNG/TIFF/HEIC, text and PDF files with an
image extension, decompression bombs, 16-bit/CMYK/palette/grey/alpha pixels, every EXIF
orientation, garbage and overlong EXIF values and odd file names; then a Hypothesis fuzz test
mutates real sample files' bytes and EXIF blocks.

An answer is exit 0, 1 or 2 with no traceback: exit 2 prints one line on stderr, and with
``--json`` exits 0 and 1 print one JSON document. Never exit 3 ("internal error"), never a
hang. The fuzz test is derandomised (the same examples on every run) and bounded for CI;
``PHOTOSTATION_FUZZ_EXAMPLES=500`` runs more locally.
"""
from __future__ import annotations

import contextlib
import faulthandler
import functools
import io
import json
import os
import signal
import struct
import subprocess
import sys
import tempfile
import textwrap
import tracemalloc
import warnings
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageFile

from photostation.imaging import decode
from photostation_cli.main import main

from .conftest import REALDATA, ROOT

SAMPLE_JPEG = ROOT / "sample_images" / "P001" / "baseline" / "tricho-vertex.jpg"
CAMERA_JPEG = REALDATA / "jpg" / "Canon_PowerShot_S40.jpg"
CAMERA_TIFF = REALDATA / "tiff" / "Picoawards.tiff"
CAMERA_HEIC = REALDATA / "heic" / "IMG_5195.HEIC"
SMALL_HEIC = REALDATA / "heic" / "samplefilehub.heif"

ANSWER_SECONDS = 30
"""A command that gives no answer in this time hangs (the slowest honest answer here, compare on
a 1600 x 1200 sample on a slow 2-core runner, takes about 10 s)."""
SIZE = (160, 120)
"""(width, height) of the photos built here: small, so that each command answers in a fraction of a second."""
SCALE = "0.01"
"""mm per pixel given to measure and compare so that they get past the scale to the pixels."""


# --- running the CLI in-process -------------------------------------------------------------

class _Hang(BaseException):
    """Raised by the alarm; a BaseException, so that no ``except Exception`` under test hides it."""


def run(*args: object) -> tuple[int, str, str]:
    """``photostation ARGS`` in-process: (exit code, stdout, stderr).

    stdout and stderr are byte streams encoded as a UTF-8 terminal's are (stdout strict,
    stderr backslashreplace), so text that a real terminal could not take fails here too, and
    Python warnings are appended to stderr as the interpreter would print them.
    A command that gives no answer within ANSWER_SECONDS fails the test (SIGALRM); a hang
    inside C code that never returns to Python ends the process with the stacks of all
    threads (faulthandler) instead of stalling CI.
    """
    argv = [os.fspath(a) if isinstance(a, os.PathLike) else str(a) for a in args]
    out_bytes, err_bytes = io.BytesIO(), io.BytesIO()
    out = io.TextIOWrapper(out_bytes, encoding="utf-8", errors="strict", write_through=True)
    err = io.TextIOWrapper(err_bytes, encoding="utf-8", errors="backslashreplace", write_through=True)

    def alarm(_signum, _frame):
        raise _Hang

    previous = signal.signal(signal.SIGALRM, alarm)
    faulthandler.dump_traceback_later(4 * ANSWER_SECONDS, exit=True)
    signal.alarm(ANSWER_SECONDS)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), \
                warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("default")  # the interpreter's defaults: shown once, deprecations hidden
            for category in (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning):
                warnings.filterwarnings("ignore", category=category)
            code = main(argv)
        for w in caught:
            err.write(warnings.formatwarning(w.message, w.category, w.filename, w.lineno))
    except _Hang:
        raise AssertionError(f"no answer within {ANSWER_SECONDS} s (hang): photostation {' '.join(argv)}") from None
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
        faulthandler.cancel_dump_traceback_later()
    return code, out_bytes.getvalue().decode("utf-8"), err_bytes.getvalue().decode("utf-8", "replace")


def assert_answer(args: tuple, code: int, out: str, err: str) -> dict | None:
    """The promise: exit 0, 1 or 2, no traceback, one stderr line on exit 2, JSON on 0/1 with --json."""
    shown = "photostation " + " ".join(os.fspath(a) if isinstance(a, os.PathLike) else str(a) for a in args)
    assert "Traceback" not in err and "Traceback" not in out, f"{shown}: traceback on the screen:\n{err}"
    assert code in (0, 1, 2), f"{shown}: exit {code}, not an answer: {err.strip()}"
    if code == 2:
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("photostation: error: "), \
            f"{shown}: exit 2 must explain in one line, got {err!r}"
        return None
    if "--json" in args:
        try:
            return json.loads(out)
        except ValueError:
            raise AssertionError(f"{shown}: exit {code} but stdout is not JSON: {out[:300]!r}") from None
    return None


def answer(*args: object) -> tuple[int, dict | None, str]:
    """Run, assert the promise, return (exit code, the JSON document or None, stderr)."""
    code, out, err = run(*args)
    return code, assert_answer(args, code, out, err), err


COMMANDS = ("check", "measure", "measure-global", "calibrate", "compare-followup", "compare-baseline")


def commands(photo: Path, good: Path, which: tuple[str, ...] = COMMANDS) -> list[tuple]:
    """The commands on ``photo``: check, measure (close-up and global view), calibrate, and compare
    with ``photo`` as the follow-up or as the baseline of ``good``."""
    every = {"check": ("check", photo, "--json"),
             "measure": ("measure", photo, "--mm-per-px", SCALE, "--json"),
             "measure-global": ("measure", photo, "--view", "global", "--json"),
             "calibrate": ("calibrate", photo, "--json"),
             "compare-followup": ("compare", good, photo, "--mm-per-px", SCALE, "--json"),
             "compare-baseline": ("compare", photo, good, "--view", "global", "--json")}
    return [every[name] for name in which]


# --- building hostile files ------------------------------------------------------------------

def encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


@functools.cache
def small_photo() -> Image.Image:
    """A 160 x 120 trichoscopy photo (the sample archive's, reduced): fast to analyse."""
    with Image.open(SAMPLE_JPEG) as image:
        return image.convert("RGB").resize(SIZE, Image.Resampling.LANCZOS)


@functools.cache
def small_jpeg() -> bytes:
    return encode(small_photo(), "JPEG", quality=90)


@functools.cache
def small_png() -> bytes:
    return encode(small_photo(), "PNG")


def cut(data: bytes, at: int | float) -> bytes:
    """The first ``at`` bytes (an int) or that share of the file (a float)."""
    return data[: at if isinstance(at, int) else int(len(data) * at)]


def corrupt_middle(data: bytes, fill: bytes | None = None, length: int = 256) -> bytes:
    """``length`` random bytes (or ``fill`` repeated) over the middle of the file (entropy-coded data)."""
    middle = len(data) // 2
    noise = fill * length if fill else np.random.default_rng(0).integers(0, 256, length, dtype=np.uint8).tobytes()
    return data[:middle] + noise + data[middle + length:]


def jpeg_segments(data: bytes) -> list[tuple[int, int]]:
    """(start, end) of each marker segment between SOI and SOS."""
    segments, pos = [], 2
    while pos + 4 <= len(data) and data[pos] == 0xFF and data[pos + 1] not in (0xD9, 0xDA):
        end = pos + 2 + int.from_bytes(data[pos + 2:pos + 4], "big")
        segments.append((pos, min(end, len(data))))
        pos = end
    return segments


def with_app1(jpeg: bytes, payloads: list[bytes], *, length: int | None = None) -> bytes:
    """``jpeg`` with its EXIF APP1 segments replaced by ``payloads`` (``length``: a lying length field)."""
    segments = jpeg_segments(jpeg)
    kept = [jpeg[s:e] for s, e in segments if not jpeg[s:s + 2] == b"\xff\xe1"]
    rest = jpeg[segments[-1][1]:] if segments else jpeg[2:]
    app1 = b"".join(b"\xff\xe1" + struct.pack(">H", length if length is not None else min(len(p) + 2, 0xFFFF))
                    + p[:0xFFFD] for p in payloads)
    # After APP0 (JFIF) when there is one, as cameras write it.
    head = kept[:1] if kept and kept[0][:2] == b"\xff\xe0" else []
    return jpeg[:2] + b"".join(head) + app1 + b"".join(kept[len(head):]) + rest


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_chunks(data: bytes) -> list[tuple[int, int, bytes]]:
    chunks, pos = [], 8
    while pos + 8 <= len(data):
        end = pos + 12 + int.from_bytes(data[pos:pos + 4], "big")
        chunks.append((pos, min(end, len(data)), data[pos + 4:pos + 8]))
        pos = end
    return chunks


def with_exif_chunk(png: bytes, tiff: bytes) -> bytes:
    """``png`` with one eXIf chunk holding ``tiff`` (right after IHDR)."""
    chunks = [(s, e) for s, e, kind in png_chunks(png) if kind != b"eXIf"]
    ihdr_end = chunks[0][1]
    return png[:ihdr_end] + png_chunk(b"eXIf", tiff) + b"".join(png[s:e] for s, e in chunks[1:])


# EXIF (a TIFF structure) written by hand, so that any type, count and offset can be a lie.
ASCII, SHORT, LONG, RATIONAL, UNDEFINED, SRATIONAL = 2, 3, 4, 5, 7, 10
MAKE, MODEL, DESCRIPTION, ORIENTATION, SOFTWARE, DATETIME, EXIF_IFD = (
    0x010F, 0x0110, 0x010E, 0x0112, 0x0131, 0x0132, 0x8769)
EXPOSURE, FNUMBER, ISO, ORIGINAL, OFFSET, OFFSET_ORIGINAL, SUBSEC_ORIGINAL = (
    0x829A, 0x829D, 0x8827, 0x9003, 0x9010, 0x9011, 0x9291)
FLASH, FOCAL, WHITE_BALANCE, FOCAL_35, SERIAL, LENS = 0x9209, 0x920A, 0xA403, 0xA405, 0xA431, 0xA434
PLANE_X, PLANE_Y, PLANE_UNIT, EXIF_WIDTH, EXIF_HEIGHT = 0xA20E, 0xA20F, 0xA210, 0xA002, 0xA003
TAGS = (MAKE, MODEL, DESCRIPTION, ORIENTATION, SOFTWARE, DATETIME, EXPOSURE, FNUMBER, ISO, ORIGINAL, OFFSET,
        OFFSET_ORIGINAL, SUBSEC_ORIGINAL, FLASH, FOCAL, WHITE_BALANCE, FOCAL_35, SERIAL, LENS, PLANE_X, PLANE_Y,
        PLANE_UNIT, EXIF_WIDTH, EXIF_HEIGHT)

Entry = tuple[int, int, int, "bytes | int"]
"""(tag, type, count, value bytes, or an int: the raw 4-byte value/offset field)."""


def ifd(entries: list[Entry], start: int, order: str = "<", next_ifd: int = 0) -> bytes:
    data_at = start + 2 + 12 * len(entries) + 4
    head, data = struct.pack(order + "H", len(entries)), b""
    for tag, kind, count, value in entries:
        if isinstance(value, int):
            field = struct.pack(order + "I", value & 0xFFFFFFFF)
        elif len(value) <= 4:
            field = value.ljust(4, b"\0")
        else:
            field = struct.pack(order + "I", data_at + len(data))
            data += value + b"\0" * (len(value) % 2)
        head += struct.pack(order + "HHI", tag & 0xFFFF, kind & 0xFFFF, count & 0xFFFFFFFF) + field
    return head + struct.pack(order + "I", next_ifd & 0xFFFFFFFF) + data


def exif_tiff(ifd0: list[Entry], exif: list[Entry] | None = None, *, order: str = "<", next_ifd: int = 0,
              exif_pointer: int | None = None) -> bytes:
    """A TIFF structure: IFD0 and (``exif``) the Exif sub-IFD it points to (or ``exif_pointer``)."""
    header = (b"II*\0" if order == "<" else b"MM\0*") + struct.pack(order + "I", 8)
    if exif is None and exif_pointer is None:
        return header + ifd(ifd0, 8, order, next_ifd)
    entries = list(ifd0) + [(EXIF_IFD, LONG, 1, 0)]
    first = ifd(entries, 8, order, next_ifd)
    entries[-1] = (EXIF_IFD, LONG, 1, 8 + len(first) if exif_pointer is None else exif_pointer)
    first = ifd(entries, 8, order, next_ifd)
    return header + first + (ifd(exif, 8 + len(first), order) if exif is not None else b"")


def text(tag: int, value: bytes) -> Entry:
    return tag, ASCII, len(value) + 1, value + b"\0"


def shorts(tag: int, *values: int) -> Entry:
    return tag, SHORT, len(values), struct.pack(f"<{len(values)}H", *values)


def ratio(tag: int, numerator: int, denominator: int, kind: int = RATIONAL) -> Entry:
    return tag, kind, 1, struct.pack("<ii" if kind == SRATIONAL else "<II", numerator, denominator)


def jpeg_exif(tiff: bytes) -> bytes:
    return with_app1(small_jpeg(), [b"Exif\0\0" + tiff])


CAMERA = [text(MAKE, b"Canon"), text(MODEL, b"Canon EOS R8"), shorts(ORIENTATION, 1)]
GOOD_EXIF = [ratio(EXPOSURE, 1, 125), ratio(FNUMBER, 8, 1), shorts(ISO, 100), text(ORIGINAL, b"2026:03:02 10:00:00")]


def exif_date(value: bytes, offset: bytes | None = None, subsec: bytes | None = None) -> bytes:
    extra = ([text(OFFSET_ORIGINAL, offset)] if offset else []) + ([text(SUBSEC_ORIGINAL, subsec)] if subsec else [])
    return jpeg_exif(exif_tiff(CAMERA + [text(DATETIME, value)], [text(ORIGINAL, value)] + extra))


def garbage_exif_cases() -> dict[str, callable]:
    big = b"A long description. " * 5000  # 100 kB: more than one JPEG segment can hold
    xmp = b"http://ns.adobe.com/xap/1.0/\0<x:xmpmeta xmlns:x='adobe:ns:meta/'/>"
    cases = {
        "description-64kB-jpeg": lambda: jpeg_exif(exif_tiff([text(DESCRIPTION, big[:65400])] + CAMERA, GOOD_EXIF)),
        "description-100kB-png": lambda: with_exif_chunk(small_png(), exif_tiff([text(DESCRIPTION, big)], GOOD_EXIF)),
        "make-model-not-utf8": lambda: jpeg_exif(exif_tiff(
            [text(MAKE, b"\xff\xfe\x80Ca\xc3\x28non"), text(MODEL, b"\xed\xa0\x80 EOS\x00\x01\x1b[31m"),
             text(SOFTWARE, b"\x00\x00"), text(DESCRIPTION, b"\xc0\xaf../../etc/passwd")],
            GOOD_EXIF + [text(SERIAL, b"\xf8\x88\x80\x80\x80"), text(LENS, bytes(range(1, 256)))])),
        "rationals-zero-denominator": lambda: jpeg_exif(exif_tiff(CAMERA, [
            ratio(EXPOSURE, 1, 0), ratio(FNUMBER, 0, 0), ratio(FOCAL, 50, 0), ratio(PLANE_X, 1, 0),
            ratio(PLANE_Y, 0, 0), shorts(PLANE_UNIT, 3), shorts(EXIF_WIDTH, 320), shorts(EXIF_HEIGHT, 240)])),
        "rationals-zero": lambda: jpeg_exif(exif_tiff(CAMERA, [
            ratio(EXPOSURE, 0, 1), ratio(FNUMBER, 0, 1), ratio(FOCAL, 0, 1), shorts(ISO, 0), shorts(FOCAL_35, 0)])),
        "rationals-negative": lambda: jpeg_exif(exif_tiff(CAMERA, [
            ratio(EXPOSURE, -1, 60, SRATIONAL), ratio(FNUMBER, -28, 10, SRATIONAL), ratio(FOCAL, 5, -1, SRATIONAL),
            ratio(PLANE_X, -1000, 1, SRATIONAL), ratio(PLANE_Y, -1000, 1, SRATIONAL), shorts(PLANE_UNIT, 2)])),
        "rationals-huge": lambda: jpeg_exif(exif_tiff(CAMERA, [
            ratio(EXPOSURE, 0xFFFFFFFF, 1), ratio(FNUMBER, 0xFFFFFFFF, 1), ratio(FOCAL, 0xFFFFFFFF, 1),
            shorts(ISO, 65535), shorts(FOCAL_35, 65535), (EXIF_WIDTH, LONG, 1, 0xFFFFFFFF),
            (EXIF_HEIGHT, LONG, 1, 0xFFFFFFFF), ratio(PLANE_X, 1, 0xFFFFFFFF), ratio(PLANE_Y, 1, 0xFFFFFFFF),
            shorts(PLANE_UNIT, 4), shorts(FLASH, 65535), shorts(WHITE_BALANCE, 65535)])),
        "rationals-tiny": lambda: jpeg_exif(exif_tiff(CAMERA, [
            ratio(EXPOSURE, 1, 0xFFFFFFFF), ratio(FNUMBER, 1, 0xFFFFFFFF), ratio(FOCAL, 1, 0xFFFFFFFF)])),
        "numbers-as-text": lambda: jpeg_exif(exif_tiff(CAMERA[:2] + [text(ORIENTATION, b"6")], [
            text(EXPOSURE, b"1/60"), text(FNUMBER, b"f/2.8"), text(ISO, b"ISO 100"), text(FLASH, b"yes"),
            text(WHITE_BALANCE, b"auto"), text(FOCAL, b"50mm"), text(FOCAL_35, b"")])),
        "numbers-not-finite": lambda: jpeg_exif(exif_tiff(CAMERA[:2] + [text(ORIENTATION, b"nan")], [
            text(EXPOSURE, b"nan"), text(FNUMBER, b"inf"), text(ISO, b"inf"), text(FLASH, b"nan"),
            text(WHITE_BALANCE, b"-inf"), text(FOCAL, b"1e400"), text(FOCAL_35, b"nan"),
            text(PLANE_X, b"inf"), text(PLANE_Y, b"inf"), text(PLANE_UNIT, b"nan"),
            text(EXIF_WIDTH, b"inf"), text(EXIF_HEIGHT, b"nan")])),
        "numbers-huge-text": lambda: jpeg_exif(exif_tiff(CAMERA[:2] + [text(ORIENTATION, b"1e308")], [
            text(ISO, b"1e308"), text(FLASH, b"1e308"), text(WHITE_BALANCE, b"1" * 400),
            text(EXPOSURE, b"9" * 400), text(FOCAL_35, b"1e308")])),
        "dates-as-numbers": lambda: jpeg_exif(exif_tiff([(MAKE, LONG, 1, 7), (MODEL, SHORT, 2, 0x00410042),
                                                         shorts(DATETIME, 2026, 3, 2)],
                                                        [ratio(ORIGINAL, 2026, 1), shorts(SUBSEC_ORIGINAL, 5),
                                                         (OFFSET_ORIGINAL, LONG, 1, 0xFFFFFFFF),
                                                         (FLASH, RATIONAL, 1, 0xFFFFFFF0),
                                                         (ISO, UNDEFINED, 4, b"\xff\xff\xff\xff")])),
        "date-zeros": lambda: exif_date(b"0000:00:00 00:00:00"),
        "date-nines": lambda: exif_date(b"9999:99:99 99:99:99", b"+99:99", b"99999999999999999999"),
        "date-blank": lambda: exif_date(b"    :  :     :  :  ", b"      ", b"    "),
        "date-year-9999-west": lambda: exif_date(b"9999:12:31 23:59:59", b"-14:00", b"999999"),
        "date-year-1-east": lambda: exif_date(b"0001:01:01 00:00:00", b"+14:00"),
        "date-year-9999-only": lambda: exif_date(b"9999:12:31 23:59:59"),
        "date-feb-30": lambda: exif_date(b"2026:02:30 25:61:61", b"Z"),
        "date-binary": lambda: exif_date(b"\xff\xfe2026:03:02\x00 10:00:00", b"\x80+01:00"),
        "date-iso-with-zone": lambda: exif_date(b"2026-03-02T10:00:00+01:00"),
        "orientation-0": lambda: jpeg_exif(exif_tiff(CAMERA[:2] + [shorts(ORIENTATION, 0)], GOOD_EXIF)),
        "orientation-9": lambda: jpeg_exif(exif_tiff(CAMERA[:2] + [shorts(ORIENTATION, 9)], GOOD_EXIF)),
        "orientation-65535": lambda: jpeg_exif(exif_tiff(CAMERA[:2] + [shorts(ORIENTATION, 65535)], GOOD_EXIF)),
        "orientation-rational": lambda: jpeg_exif(exif_tiff(CAMERA[:2] + [ratio(ORIENTATION, 6, 0)], GOOD_EXIF)),
        "orientation-no-values": lambda: jpeg_exif(exif_tiff(CAMERA[:2] + [(ORIENTATION, SHORT, 0, 0)], GOOD_EXIF)),
        "orientation-many-values": lambda: jpeg_exif(exif_tiff(CAMERA[:2] + [shorts(ORIENTATION, 6, 8, 3, 1)],
                                                               GOOD_EXIF)),
        "counts-lie": lambda: jpeg_exif(exif_tiff([(MAKE, ASCII, 0xFFFFFFFF, 0x40), (MODEL, SHORT, 0x7FFFFFFF, 8),
                                                   (SOFTWARE, ASCII, 0x10000, 8), (ORIENTATION, SHORT, 0x40000000, 8)],
                                                  [(EXPOSURE, RATIONAL, 0x7FFFFFFF, 8), (ISO, LONG, 0xFFFF, 8),
                                                   (ORIGINAL, ASCII, 0xFFFFFF, 8)])),
        "offsets-wild": lambda: jpeg_exif(exif_tiff([(MAKE, ASCII, 20, 0xFFFFFFF0), (MODEL, ASCII, 20, 0x7FFFFFFF)],
                                                    [(EXPOSURE, RATIONAL, 1, 0xFFFFFFF8),
                                                     (ORIGINAL, ASCII, 20, 0x80000000)])),
        "types-unknown": lambda: jpeg_exif(exif_tiff([(MAKE, 0, 4, b"abcd"), (MODEL, 13, 1, 8),
                                                      (ORIENTATION, 0xFFFF, 1, 6)],
                                                     [(EXPOSURE, 99, 2, 8), (ORIGINAL, 11, 5, 8)])),
        "exif-pointer-loop": lambda: jpeg_exif(exif_tiff(CAMERA, exif_pointer=8)),
        "ifd-chain-loop": lambda: jpeg_exif(exif_tiff(CAMERA, GOOD_EXIF, next_ifd=8)),
        "exif-pointer-outside": lambda: jpeg_exif(exif_tiff(CAMERA, exif_pointer=0xFFFFFFF0)),
        "ifd-count-huge": lambda: jpeg_exif(b"II*\0\x08\0\0\0\xff\xff" + b"\x0f\x01\x02\0" * 40),
        "big-endian-garbage": lambda: jpeg_exif(exif_tiff([(MAKE, ASCII, 0xFFFFFFFF, 0xFFFFFFFF)], GOOD_EXIF,
                                                          order=">")),
        "tiff-header-only": lambda: jpeg_exif(b"II*\0"),
        "tiff-first-ifd-outside": lambda: jpeg_exif(b"II*\0\xff\xff\xff\x7f"),
        "exif-empty": lambda: with_app1(small_jpeg(), [b"Exif\0\0"]),
        "exif-not-tiff": lambda: with_app1(small_jpeg(), [b"Exif\0\0" + bytes(range(256)) * 8]),
        "exif-length-too-short": lambda: with_app1(small_jpeg(), [b"Exif\0\0" + exif_tiff(CAMERA, GOOD_EXIF)],
                                                   length=3),
        "exif-twice-disagreeing": lambda: with_app1(small_jpeg(), [
            b"Exif\0\0" + exif_tiff(CAMERA, GOOD_EXIF),
            b"Exif\0\0" + exif_tiff([shorts(ORIENTATION, 8)], [text(ORIGINAL, b"1999:01:01 00:00:00")])]),
        "xmp-first-then-garbage-exif": lambda: with_app1(small_jpeg(), [xmp, b"Exif\0\0" + exif_tiff(
            [(MAKE, ASCII, 0xFFFFFFFF, 0x40)], [text(ISO, b"inf"), ratio(EXPOSURE, 1, 0)])]),
        "png-exif-garbage": lambda: with_exif_chunk(small_png(), bytes(range(256)) * 4),
        "png-exif-not-finite": lambda: with_exif_chunk(small_png(), exif_tiff(
            [text(ORIENTATION, b"nan")], [text(ISO, b"inf"), text(FLASH, b"nan"), text(WHITE_BALANCE, b"inf")])),
    }
    return cases


def not_photo_cases() -> dict[str, tuple[str, callable]]:
    """Files that are not (whole) photos: any answer is fine, a crash is not."""
    text_file = b"Patient P001, vertex: see attached.\nThis is a text file, not a photo.\n"
    pdf = (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj 2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>"
           b"endobj 3 0 obj<</Type/Page/MediaBox[0 0 3 3]/Parent 2 0 R>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n")
    cases: dict[str, tuple[str, callable]] = {
        "zero-byte-jpg": (".jpg", lambda: b""),
        "zero-byte-heic": (".heic", lambda: b""),
        "one-byte": (".jpg", lambda: b"\xff"),
        "jpeg-soi-only": (".jpg", lambda: b"\xff\xd8"),
        "jpeg-soi-eoi": (".jpg", lambda: b"\xff\xd8\xff\xd9"),
        "png-signature-only": (".png", lambda: b"\x89PNG\r\n\x1a\n"),
        "tiff-header-only": (".tif", lambda: b"II*\0\x08\0\0\0"),
        "heic-ftyp-only": (".heic", lambda: b"\0\0\0\x18ftypheic\0\0\0\0mif1heic"),
        "webp-named-jpg": (".jpg", lambda: encode(small_photo(), "WEBP")),
        "gif-named-png": (".png", lambda: encode(small_photo(), "GIF")),
        "bmp-named-tif": (".tif", lambda: encode(small_photo(), "BMP")),
        "float-tiff": (".tif", lambda: cv2.imencode(".tiff", np.asarray(small_photo(), np.float32) / 255)[1].tobytes()),
        "multipage-tiff": (".tif", lambda: encode(small_photo(), "TIFF", save_all=True,
                                                  append_images=[small_photo().convert("L")])),
        # The EXIF segment's length swallows the frame header: no longer a readable JPEG.
        "jpeg-app1-length-beyond-file": (".jpg", lambda: with_app1(
            small_jpeg(), [b"Exif\0\0" + exif_tiff(CAMERA, GOOD_EXIF)], length=0xFFFF)),
        # Integer and float samples: no camera writes them, their scale is a guess.
        "tiff-32bit-int": (".tif", lambda: encode(small_photo().convert("I"), "TIFF")),
        "tiff-float": (".tif", lambda: encode(small_photo().convert("F"), "TIFF")),
        "one-pixel-png": (".png", lambda: encode(Image.new("RGB", (1, 1), (200, 150, 130)), "PNG")),
        "one-row-png": (".png", lambda: encode(Image.new("RGB", (4000, 1), (200, 150, 130)), "PNG")),
        "black-jpeg": (".jpg", lambda: encode(Image.new("RGB", SIZE), "JPEG")),
        "white-png": (".png", lambda: encode(Image.new("RGB", SIZE, (255, 255, 255)), "PNG")),
    }
    for suffix in (".jpg", ".png", ".heic"):
        cases[f"text-named{suffix}"] = (suffix, lambda: text_file)
        cases[f"pdf-named{suffix}"] = (suffix, lambda: pdf)
    # Cut points: inside the header, inside the metadata, half-way through the pixels, near the
    # end. A cut or corruption that still decodes costs a full analysis, so those use the
    # smaller files (the fuzz test mutates the large sample file).
    sources = {"sample-jpeg": (".jpg", SAMPLE_JPEG.read_bytes, (2, 300, 0.5), False),
               "camera-jpeg": (".jpg", CAMERA_JPEG.read_bytes, (20, 4000, 0.5, 0.99, -2), True),
               "png": (".png", small_png, (8, 33, 0.5, -12), True),
               "tiff": (".tif", CAMERA_TIFF.read_bytes, (8, 100, 0.5, 0.99), True),
               "heic": (".heic", CAMERA_HEIC.read_bytes, (12, 600, 3000, 0.5), False),
               "small-heic": (".heic", SMALL_HEIC.read_bytes, (0.5, 0.99), True)}
    for name, (suffix, read, cuts, corrupt) in sources.items():
        for at in cuts:
            where = f"{at:g}" if isinstance(at, float) else f"{at}B" if at > 0 else f"end{at}B"
            cases[f"truncated-{name}-{where}"] = (suffix, lambda read=read, at=at: cut(read(), at))
        if corrupt:
            cases[f"corrupted-{name}-middle"] = (suffix, lambda read=read: corrupt_middle(read()))
            cases[f"corrupted-{name}-ff-run"] = (suffix, lambda read=read: corrupt_middle(read(), b"\xff"))
    return cases


def pixel_format_cases() -> dict[str, tuple[str, callable]]:
    """Photos in every pixel format a clinic may meet: they must be measured, not refused."""
    def rgb():
        return np.asarray(small_photo())

    def grey16():
        return Image.fromarray(rgb()[:, :, 1].astype(np.uint16) * 257)

    def cv2_16(ext, alpha=False):
        bgr = rgb()[:, :, ::-1].astype(np.uint16) * 257
        if alpha:
            bgr = np.dstack([bgr, np.full(bgr.shape[:2], 65535, np.uint16)])
        return cv2.imencode(ext, bgr)[1].tobytes()

    return {
        "png-16bit-rgb": (".png", lambda: cv2_16(".png")),
        "png-16bit-rgba": (".png", lambda: cv2_16(".png", alpha=True)),
        "tiff-16bit-rgb": (".tif", lambda: cv2_16(".tiff")),
        "png-16bit-grey": (".png", lambda: encode(grey16(), "PNG")),
        "tiff-16bit-grey": (".tif", lambda: encode(grey16(), "TIFF")),
        "jpeg-cmyk": (".jpg", lambda: encode(small_photo().convert("CMYK"), "JPEG")),
        "tiff-cmyk": (".tif", lambda: encode(small_photo().convert("CMYK"), "TIFF")),
        "png-palette": (".png", lambda: encode(small_photo().convert("P", palette=Image.Palette.ADAPTIVE), "PNG")),
        "png-palette-transparent": (".png", lambda: encode(
            small_photo().convert("P", palette=Image.Palette.ADAPTIVE), "PNG", transparency=0)),
        "jpeg-grey": (".jpg", lambda: encode(small_photo().convert("L"), "JPEG")),
        "png-grey": (".png", lambda: encode(small_photo().convert("L"), "PNG")),
        "png-1bit": (".png", lambda: encode(small_photo().convert("1"), "PNG")),
        "png-grey-alpha": (".png", lambda: encode(small_photo().convert("LA"), "PNG")),
        "png-rgba": (".png", lambda: encode(small_photo().convert("RGBA"), "PNG")),
        "tiff-rgba": (".tif", lambda: encode(small_photo().convert("RGBA"), "TIFF")),
        "tiff-ycbcr": (".tif", lambda: encode(small_photo().convert("YCbCr"), "TIFF")),
        "tiff-lab": (".tif", lambda: encode(small_photo().convert("LAB"), "TIFF")),
        "tiff-jpeg-compressed": (".tif", lambda: encode(small_photo(), "TIFF", compression="jpeg")),
        "heic-8bit": (".heic", lambda: encode(small_photo(), "HEIF")),
        "jpeg-progressive": (".jpg", lambda: encode(small_photo(), "JPEG", progressive=True)),
        "jpeg-arithmetic-free-restart": (".jpg", lambda: encode(small_photo(), "JPEG", restart_marker_blocks=1)),
    }


NOT_PHOTOS = not_photo_cases()
GARBAGE_EXIF = {name: (".png" if "png" in name else ".jpg", build) for name, build in garbage_exif_cases().items()}
FORMATS = pixel_format_cases()


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> Path:
    """The other side of compare: a readable 160 x 120 trichoscopy JPEG."""
    path = tmp_path_factory.mktemp("good") / "tricho-vertex.jpg"
    path.write_bytes(small_jpeg())
    return path


def write(tmp_path: Path, suffix: str, data: bytes, stem: str = "tricho-vertex") -> Path:
    path = tmp_path / f"{stem}{suffix}"
    path.write_bytes(data)
    return path


# --- explicit cases --------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(NOT_PHOTOS))
def test_broken_or_foreign_file_gets_an_answer(tmp_path, good, name):
    """Promise: zero-byte, truncated and corrupted JPEG/PNG/TIFF/HEIC files, text and PDF files with
    an image extension, other formats and degenerate pictures get exit 0/1/2 and no traceback from
    check, measure (close-up and global), calibrate and compare (the file on either side)."""
    suffix, build = NOT_PHOTOS[name]
    photo = write(tmp_path, suffix, build())
    for args in commands(photo, good):
        answer(*args)


@pytest.mark.parametrize("share", [0.5, 0.9])
@pytest.mark.parametrize("name", ["sample-jpeg", "camera-jpeg", "png", "tiff", "camera-heic", "small-heic"])
def test_truncated_pixels_are_never_measured(tmp_path, good, name, share):
    """Promise: a file cut short inside its pixel data is answered as unreadable pixels (check fails
    file.decodable, measure and compare refuse it), never measured as if it were whole (libheif
    fills missing HEIC tiles with flat colour without an error)."""
    suffix, read = {"sample-jpeg": (".jpg", SAMPLE_JPEG.read_bytes), "camera-jpeg": (".jpg", CAMERA_JPEG.read_bytes),
                    "png": (".png", small_png), "tiff": (".tif", lambda: encode(small_photo(), "TIFF")),
                    "camera-heic": (".heic", CAMERA_HEIC.read_bytes),
                    "small-heic": (".heic", SMALL_HEIC.read_bytes)}[name]
    photo = write(tmp_path, suffix, cut(read(), share))
    code, report, _ = answer("check", photo, "--json")
    decodable = {c["name"]: c for c in report["checks"]}["file.decodable"]
    assert code == 1 and decodable["status"] == "fail" and "truncated" in decodable["message"], decodable
    for args in commands(photo, good, ("measure", "measure-global", "compare-followup")):
        code, _, err = answer(*args)
        assert code == 2 and "truncated" in err, (args, err)


@pytest.mark.parametrize("name", sorted(GARBAGE_EXIF))
def test_garbage_exif_gets_an_answer(tmp_path, good, name):
    """Promise: garbage and overlong EXIF values (100 kB text, non-UTF-8 bytes, zero, negative and
    huge rationals, absurd dates, wrong types, lying counts and offsets, loops) get exit 0/1 and a
    JSON answer from check and calibrate, and compare reads them on the follow-up. (The pixels are
    fine: only commands that read the metadata are run.)"""
    suffix, build = GARBAGE_EXIF[name]
    photo = write(tmp_path, suffix, build())
    for args in commands(photo, good, ("check", "calibrate", "compare-followup")):
        code, _, err = answer(*args)
        if args[0] in ("check", "calibrate"):
            assert code in (0, 1), f"{' '.join(map(str, args))}: refused a readable photo: {err.strip()}"


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_every_pixel_format_is_measured(tmp_path, good, name):
    """Promise: 16-bit, CMYK, palette, grey and alpha photos are read and measured (exit 0 or 1 with
    a JSON answer), not refused, and keep their size."""
    suffix, build = FORMATS[name]
    photo = write(tmp_path, suffix, build())
    rgb = decode(photo)
    assert rgb.shape == (SIZE[1], SIZE[0], 3) and rgb.dtype in (np.uint8, np.uint16)
    assert float(rgb.std()) > 0.01 * (255 if rgb.dtype == np.uint8 else 65535), "the picture was lost"
    for args in commands(photo, good, COMMANDS[:-1]):
        code, report, err = answer(*args)
        assert code in (0, 1), f"{' '.join(map(str, args))}: refused a readable photo: {err.strip()}"
        if args[0] == "check":
            checks = {c["name"]: c for c in report["checks"]}
            assert checks["file.decodable"]["status"] == "pass"
            assert (report["metadata"]["width"], report["metadata"]["height"]) == SIZE


@pytest.mark.parametrize("container", ["jpeg", "png"])
@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation(tmp_path, good, container, orientation):
    """Promise: every EXIF orientation 1-8 is answered, and check reports the displayed size
    (width and height swapped for 5-8) that the decoder produces."""
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    suffix = ".jpg" if container == "jpeg" else ".png"
    photo = write(tmp_path, suffix, encode(small_photo(), container.upper(), exif=exif.tobytes()))
    size = SIZE[::-1] if orientation >= 5 else SIZE
    assert decode(photo).shape[:2] == size[::-1]
    code, report, _ = answer("check", photo, "--json")
    assert report["metadata"]["orientation"] == orientation
    assert (report["metadata"]["width"], report["metadata"]["height"]) == size
    which = ("measure", "calibrate") + (("compare-followup",) if orientation >= 5 else ())
    for args in commands(photo, good, which):
        code, _, err = answer(*args)
        assert code in (0, 1), err


def test_garbage_orientation_is_reported_not_applied(tmp_path):
    """Promise: an orientation outside 1-8 (or of the wrong type) is a warning, not a crash, and the
    pixels stay as stored."""
    for value in (0, 9, 65535):
        photo = write(tmp_path, ".jpg", jpeg_exif(exif_tiff(CAMERA[:2] + [shorts(ORIENTATION, value)], GOOD_EXIF)))
        code, report, _ = answer("check", photo, "--json")
        checks = {c["name"]: c for c in report["checks"]}
        assert report["metadata"]["orientation"] is None
        assert "Orientation" in checks["metadata.exif"]["value"], value
        assert (report["metadata"]["width"], report["metadata"]["height"]) == SIZE


def test_not_finite_exif_numbers_are_unreadable_values(tmp_path):
    """Promise: EXIF numbers written as 'nan' or 'inf' text are reported as unreadable EXIF values,
    never taken as numbers (nor crash the conversion to an integer)."""
    photo = write(tmp_path, ".jpg", GARBAGE_EXIF["numbers-not-finite"][1]())
    code, report, _ = answer("check", photo, "--json")
    meta = report["metadata"]
    for key in ("exposure_time_s", "f_number", "iso", "flash_fired", "white_balance", "focal_length_mm",
                "orientation"):
        assert meta[key] is None, (key, meta[key])
    problems = {c["name"]: c for c in report["checks"]}["metadata.exif"]["value"]
    assert {"ExposureTime", "FNumber", "ISOSpeedRatings", "FocalLength", "Orientation"} <= set(problems)


@pytest.mark.parametrize("name", ["ñ€漢", "patient P001 (copy)", "-dash", "tab\there", "new\nline",
                                  os.fsdecode(b"invalid-utf8-\xff\xfe")])
def test_odd_file_names(tmp_path, good, name):
    """Promise: unicode, spaces, a leading dash, control characters and (Linux) bytes that are not
    UTF-8 in a file name get an answer, on a readable photo and on an unreadable one; exit 2 is
    still one line."""
    readable = tmp_path / "ok"
    broken = tmp_path / "broken"
    readable.mkdir()
    broken.mkdir()
    for folder, data in ((readable, CAMERA_JPEG.read_bytes()), (broken, b"not a photo")):
        photo = folder / f"{name}.jpg"
        photo.write_bytes(data)
        for args in commands(photo, good, ("check", "measure", "calibrate")) + [("check", photo), ("calibrate", photo)]:
            code, _, _ = answer(*args)
            if folder is readable and args[0] in ("check", "calibrate"):
                assert code in (0, 1), args


# --- decompression bombs ---------------------------------------------------------------------

def png_claiming(width: int, height: int) -> bytes:
    """A 100-byte PNG whose header claims ``width`` x ``height`` RGB pixels."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(b"\0" * 64))
            + png_chunk(b"IEND", b""))


def jpeg_claiming(width: int, height: int) -> bytes:
    """A small JPEG whose frame header (SOF0) claims ``width`` x ``height``."""
    data = bytearray(small_jpeg())
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def tiff_claiming(width: int, height: int) -> bytes:
    """An uncompressed RGB TIFF whose tags claim ``width`` x ``height``, with 16 bytes of pixels."""
    entries = [(256, LONG, 1, struct.pack("<I", width)), (257, LONG, 1, struct.pack("<I", height)),
               (258, SHORT, 3, struct.pack("<3H", 8, 8, 8)), (259, SHORT, 1, struct.pack("<H", 1)),
               (262, SHORT, 1, struct.pack("<H", 2)), (273, LONG, 1, 0), (277, SHORT, 1, struct.pack("<H", 3)),
               (278, LONG, 1, struct.pack("<I", height)),
               (279, LONG, 1, struct.pack("<I", min(width * height * 3, 0xFFFFFFFF)))]
    body = ifd(entries, 8)
    entries[5] = (273, LONG, 1, 8 + len(body))
    return b"II*\0" + struct.pack("<I", 8) + ifd(entries, 8) + b"\x80" * 16


def heic_claiming(width: int, height: int) -> bytes:
    """The small real HEIC with every image spatial extent ('ispe') box claiming ``width`` x ``height``."""
    data = bytearray(SMALL_HEIC.read_bytes())
    at = data.find(b"ispe")
    while at >= 0:
        data[at + 8:at + 16] = struct.pack(">II", width, height)
        at = data.find(b"ispe", at + 4)
    return bytes(data)


BOMBS = {
    "png-50000x50000": (".png", lambda: png_claiming(50_000, 50_000)),
    # 400 Mpx: above the 300 Mpx limit but below twice it, where Pillow only warns.
    "png-20000x20000": (".png", lambda: png_claiming(20_000, 20_000)),
    "png-1x400M": (".png", lambda: png_claiming(1, 400_000_000)),
    "jpeg-50000x50000": (".jpg", lambda: jpeg_claiming(50_000, 50_000)),
    "jpeg-20000x20000": (".jpg", lambda: jpeg_claiming(20_000, 20_000)),
    "tiff-50000x50000": (".tif", lambda: tiff_claiming(50_000, 50_000)),
    "tiff-20000x20000": (".tif", lambda: tiff_claiming(20_000, 20_000)),
    "heic-50000x50000": (".heic", lambda: heic_claiming(50_000, 50_000)),
    "heic-20000x20000": (".heic", lambda: heic_claiming(20_000, 20_000)),
}


@pytest.fixture
def pixel_loads(monkeypatch) -> list[tuple[int, int]]:
    """Sizes of every pixel decode that Pillow (and pillow-heif) start, recorded before they allocate."""
    import pillow_heif.as_plugin

    seen: list[tuple[int, int]] = []
    for cls in (Image.Image, ImageFile.ImageFile, pillow_heif.as_plugin._LibHeifImageFile):
        original = cls.__dict__["load"]

        def load(self, *a, _original=original, **k):
            seen.append(self.size)
            return _original(self, *a, **k)

        monkeypatch.setattr(cls, "load", load)
    return seen


@pytest.mark.parametrize("name", sorted(BOMBS))
def test_decompression_bomb_is_refused_before_decoding(tmp_path, good, pixel_loads, name):
    """Promise: a small file whose header claims more pixels than the limit (300 Mpx) is refused
    with exit 2 and one line, before any pixel buffer of the claimed size is allocated."""
    suffix, build = BOMBS[name]
    photo = write(tmp_path, suffix, build())
    limit = Image.MAX_IMAGE_PIXELS
    tracemalloc.start()
    try:
        for args in commands(photo, good):
            code, _, err = answer(*args)
            assert code == 2, f"{' '.join(map(str, args))}: a decompression bomb must be refused, got exit {code}"
            assert "too large to decode safely" in err, err
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    big = [size for size in pixel_loads if size[0] * size[1] > limit]
    assert not big, f"pixel decoding of {big} started: the size limit ({limit} pixels) was not applied first"
    assert peak < 200e6, f"{peak / 1e6:.0f} MB allocated by Python/numpy for a refused file"


def test_decompression_bombs_stay_far_below_the_claimed_memory(tmp_path):
    """Promise: refusing bombs costs little memory, measured as the peak resident size of a fresh
    process that runs every bomb through check, measure and calibrate (the claimed pixels would
    need 1.2 to 7.5 GB)."""
    paths = []
    for name, (suffix, build) in sorted(BOMBS.items()):
        paths.append(str(write(tmp_path, suffix, build(), stem=name)))
    script = textwrap.dedent(f"""
        from photostation_cli.main import main
        codes = [main([command, path, *extra]) for path in {paths!r}
                 for command, extra in (("check", ["--json"]), ("measure", ["--mm-per-px", "0.01"]),
                                        ("calibrate", []))]
        # VmHWM, not ru_maxrss: Linux keeps ru_maxrss across exec, so a child of a large pytest
        # process would report the parent's peak; VmHWM belongs to this process's memory alone.
        peak = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
        print(max(codes), peak)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    worst, peak_kb = map(int, done.stdout.split()[-2:])
    assert worst == 2
    assert peak_kb * 1024 < 1.0e9, f"peak resident memory {peak_kb / 1024:.0f} MB while refusing bombs"


# --- ingest ----------------------------------------------------------------------------------

def test_ingest_answers_on_an_archive_of_hostile_files(tmp_path):
    """Promise: ingest reads an archive full of hostile files, answers (exit 0/1, JSON), records
    every photo, and a second run over the same files changes nothing and does not crash."""
    archive = tmp_path / "archive"
    cases = {**NOT_PHOTOS, **GARBAGE_EXIF, **FORMATS, **BOMBS}
    for number, name in enumerate(sorted(cases)):
        suffix, build = cases[name]
        folder = archive / f"H{number:03d}" / "baseline"
        folder.mkdir(parents=True)
        (folder / f"tricho-vertex{suffix}").write_bytes(build())
    db = tmp_path / "ledger.db"
    code, first, _ = answer("ingest", archive, "--db", db, "--json")
    assert code in (0, 1) and first["photos"] == len(cases) and not first["skipped"]
    code, second, _ = answer("ingest", archive, "--db", db, "--json")
    assert code in (0, 1) and second["photos"] == len(cases)
    assert second["added"] == 0 and not second["changed_bytes"] and not second["missing_files"]
    assert sorted(second["unreadable"]) == sorted(first["unreadable"])


# --- fuzzing ---------------------------------------------------------------------------------

FUZZ_EXAMPLES = int(os.environ.get("PHOTOSTATION_FUZZ_EXAMPLES", "30"))
"""Examples in CI (measured: about 80 s on a 2-core machine); set the variable to run more."""


@functools.cache
def seed_files() -> dict[str, tuple[str, bytes]]:
    """Real files the fuzzer starts from: the sample archive's JPEG, a camera JPEG with a full EXIF
    block, a PNG of the camera picture carrying its EXIF (eXIf), a real HEIC and a real TIFF."""
    with Image.open(CAMERA_JPEG) as camera:
        png = encode(camera.convert("RGB"), "PNG", exif=camera.info["exif"])
    return {"sample-jpeg": (".jpg", SAMPLE_JPEG.read_bytes()), "camera-jpeg": (".jpg", CAMERA_JPEG.read_bytes()),
            "camera-png": (".png", png), "heic": (".heic", SMALL_HEIC.read_bytes()),
            "tiff": (".tif", CAMERA_TIFF.read_bytes())}


positions = st.one_of(st.integers(0, 1023), st.integers(0, 2 ** 31))
"""Byte positions (taken modulo the file length): the headers often, anywhere sometimes."""
interesting_words = st.sampled_from([0, 1, 2, 7, 8, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF, 0x7FFFFFFF,
                                     0x80000000, 0xFFFFFFFF, 0xFFFFFFF8])
numbers = st.one_of(interesting_words, st.integers(0, 0xFFFFFFFF))
entries = st.tuples(st.one_of(st.sampled_from(TAGS), st.integers(0, 0xFFFF)), st.integers(0, 14),
                    st.one_of(st.integers(0, 40), interesting_words),
                    st.one_of(st.binary(max_size=48), numbers,
                              st.sampled_from([b"nan", b"inf", b"-1", b"1e308", b"0000:00:00 00:00:00",
                                               b"9999:12:31 23:59:59", b"\xff\xfe\x80"]).map(lambda v: v + b"\0")))


@st.composite
def exif_blocks(draw) -> bytes:
    """An EXIF payload: random bytes, or a TIFF structure of random entries (types, counts and
    offsets free to lie), optionally pointing to a random Exif sub-IFD."""
    if draw(st.integers(0, 4)) == 0:
        return draw(st.binary(max_size=600))
    order = draw(st.sampled_from("<>"))
    ifd0 = draw(st.lists(entries, max_size=8))
    exif = draw(st.one_of(st.none(), st.lists(entries, max_size=10)))
    pointer = draw(st.one_of(st.none(), numbers)) if exif is None else None
    return exif_tiff(ifd0, exif, order=order, next_ifd=draw(st.one_of(st.just(0), numbers)), exif_pointer=pointer)


def splice_exif(data: bytes, payload: bytes) -> bytes:
    """Put ``payload`` where the file keeps its EXIF: the APP1 segment of a JPEG, the eXIf chunk of a
    PNG; in a HEIC or TIFF it overwrites the bytes after the first TIFF header in the file."""
    if data.startswith(b"\xff\xd8"):
        return with_app1(data, [b"Exif\0\0" + payload])
    if data.startswith(b"\x89PNG") and png_chunks(data):
        return with_exif_chunk(data, payload)
    at = max(data.find(b"MM\0*", 16), data.find(b"II*\0", 16))
    if at < 0:
        return data
    return data[:at] + payload[:len(data) - at] + data[at + len(payload):]


def duplicate_segment(data: bytes, index: int) -> bytes:
    """Repeat one JPEG marker segment (or PNG chunk) right after itself."""
    spans = jpeg_segments(data) if data.startswith(b"\xff\xd8") else [(s, e) for s, e, _ in png_chunks(data)]
    if not spans:
        return data
    start, end = spans[index % len(spans)]
    return data[:end] + data[start:end] + data[end:]


operations = st.one_of(
    st.tuples(st.just("flip"), positions, st.integers(0, 7)),
    st.tuples(st.just("set"), positions, st.sampled_from([0x00, 0xFF, 0x7F, 0x80, 0x01, 0xD9, 0xDA])),
    st.tuples(st.just("insert"), positions, st.binary(min_size=1, max_size=64)),
    st.tuples(st.just("delete"), positions, st.integers(1, 512)),
    st.tuples(st.just("overwrite"), positions, st.one_of(st.binary(min_size=1, max_size=256),
                                                         st.integers(1, 4096).map(lambda n: b"\xff" * n))),
    st.tuples(st.just("truncate"), positions),
    st.tuples(st.just("copy"), positions, positions, st.integers(1, 2048)),
    st.tuples(st.just("exif"), exif_blocks()),
    st.tuples(st.just("duplicate"), st.integers(0, 20)),
    st.tuples(st.just("length"), st.integers(0, 20), st.one_of(interesting_words, st.integers(0, 0xFFFF))),
)


def mutate(data: bytes, ops: list[tuple]) -> bytes:
    """Apply the drawn operations in turn (positions modulo the current length)."""
    for op in ops:
        n = max(len(data), 1)
        kind = op[0]
        if kind == "flip":
            i = op[1] % n
            data = data[:i] + bytes([data[i] ^ (1 << op[2])]) + data[i + 1:] if data else data
        elif kind == "set":
            i = op[1] % n
            data = data[:i] + bytes([op[2]]) + data[i + 1:]
        elif kind == "insert":
            i = op[1] % (n + 1)
            data = data[:i] + op[2] + data[i:]
        elif kind == "delete":
            i = op[1] % n
            data = data[:i] + data[i + op[2]:]
        elif kind == "overwrite":
            i = op[1] % n
            data = data[:i] + op[2] + data[i + len(op[2]):]
        elif kind == "truncate":
            data = data[:op[1] % n]
        elif kind == "copy":
            source, target = op[1] % n, op[2] % n
            data = data[:target] + data[source:source + op[3]] + data[target:]
        elif kind == "exif":
            data = splice_exif(data, op[1])
        elif kind == "duplicate":
            data = duplicate_segment(data, op[1])
        elif kind == "length" and data.startswith(b"\xff\xd8"):
            spans = jpeg_segments(data)
            if spans:
                start = spans[op[1] % len(spans)][0]
                data = data[:start + 2] + struct.pack(">H", op[2] & 0xFFFF) + data[start + 4:]
    return data


@settings(max_examples=FUZZ_EXAMPLES, deadline=None, derandomize=True, database=None, print_blob=False,
          phases=[Phase.explicit, Phase.generate],
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large, HealthCheck.large_base_example])
@given(seed=st.sampled_from(["camera-jpeg", "camera-png", "heic", "sample-jpeg", "tiff"]),
       ops=st.lists(operations, min_size=1, max_size=4))
# Found by a longer run: pillow-heif raised EOFError for this HEVC stream, which click turned into
# "photostation: aborted" as if the user had pressed Ctrl-D.
@example(seed="heic", ops=[("copy", 13852, 529, 1046), ("set", 50, 0), ("duplicate", 13), ("duplicate", 2)])
def test_fuzzed_real_files_get_an_answer(tmp_path_factory, good, seed, ops):
    """Promise: real sample files with mutated bytes and EXIF blocks (flipped, inserted, deleted,
    overwritten bytes, truncation, spliced garbage EXIF, duplicated segments, lying lengths) get an
    answer from check, measure, calibrate, compare and ingest within the time limit, and a second
    ingest of the same archive leaves the ledger consistent."""
    suffix, original = seed_files()[seed]
    data = mutate(original, ops)
    folder = Path(tempfile.mkdtemp(dir=tmp_path_factory.getbasetemp(), prefix="fuzz-"))
    photo = folder / "archive" / "P001" / "baseline" / f"tricho-vertex{suffix}"
    photo.parent.mkdir(parents=True)
    photo.write_bytes(data)
    note = f"(the mutated file is kept at {photo})"
    try:
        for args in commands(photo, good, ("check", "measure", "calibrate", "compare-followup")):
            answer(*args)
        db = folder / "ledger.db"
        for attempt in range(2):
            code, report, _ = answer("ingest", folder / "archive", "--db", db, "--json")
            assert code in (0, 1) and report["photos"] == 1 and not report["changed_bytes"], report
            assert attempt == 0 or report["added"] == 0, report
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{note}") from None
