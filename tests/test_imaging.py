"""Pixel decoding: EXIF orientation applied, HEIC, grey, 16-bit, CMYK, reduced-resolution decode."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from photostation.errors import InputError
from photostation.imaging import decode, read_header

from .conftest import REALDATA

ORIENT = REALDATA / "jpg" / "orientation"


@pytest.mark.parametrize("kind", ["landscape", "portrait"])
@pytest.mark.parametrize("orientation", range(2, 9))
def test_every_exif_orientation_decodes_upright(kind, orientation):
    # The sample set stores one picture eight ways with the matching Orientation tag: applied
    # correctly, all eight decode to the same upright picture.
    # (The files were re-encoded with a brightness shift, so compare structure: correlation.)
    upright = decode(ORIENT / f"{kind}_1.jpg").astype(float).mean(axis=2)
    turned = decode(ORIENT / f"{kind}_{orientation}.jpg").astype(float).mean(axis=2)
    assert turned.shape == upright.shape
    correlation = np.corrcoef(turned.ravel(), upright.ravel())[0, 1]
    assert correlation > 0.95
    # A mirrored result would correlate far less: the test can tell right from wrong.
    assert np.corrcoef(np.fliplr(turned).ravel(), upright.ravel())[0, 1] < 0.7
    header = read_header(ORIENT / f"{kind}_{orientation}.jpg")
    assert (header.height, header.width) == upright.shape[:2]


def test_heic_decodes_with_rotation_applied():
    image = decode(REALDATA / "heic" / "mobile" / "iphone_13_pro_max.HEIC", max_side=800)
    assert image.dtype == np.uint8 and image.shape[2] == 3
    assert image.shape[0] > image.shape[1]  # stored 4032x3024 landscape, rotated to portrait


def test_reduced_resolution_decode_keeps_content():
    path = REALDATA / "jpg" / "hdr" / "canon_hdr_NO.jpg"
    full = decode(path)
    small = decode(path, max_side=512)
    assert max(small.shape[:2]) <= 768 and small.shape[0] / small.shape[1] == pytest.approx(
        full.shape[0] / full.shape[1], rel=0.02)
    assert abs(float(small.mean()) - float(full.mean())) < 2.0


def _encoded(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


def test_grey_16bit_and_cmyk_inputs():
    ramp = np.tile(np.linspace(0, 65535, 64, dtype=np.uint16), (32, 1))
    grey16 = decode(_encoded(Image.fromarray(ramp), "PNG"))
    assert grey16.dtype == np.uint16 and grey16.shape == (32, 64, 3)
    assert grey16[0, -1, 0] == 65535 and np.array_equal(grey16[..., 0], grey16[..., 2])
    grey8 = decode(_encoded(Image.fromarray((ramp >> 8).astype(np.uint8)), "JPEG"))
    assert grey8.shape == (32, 64, 3)
    cmyk = Image.new("CMYK", (16, 16), (0, 255, 255, 0))  # pure cyan ink absent -> red
    rgb = decode(_encoded(cmyk, "JPEG"))
    assert rgb.shape == (16, 16, 3) and rgb[8, 8, 0] > 200 and rgb[8, 8, 1] < 60


def test_non_images_are_input_errors(tmp_path):
    for content, fragment in ((b"", "empty file"), (b"%PDF-1.4 not a photo", "not an image")):
        with pytest.raises(InputError, match=fragment):
            decode(content, "x.jpg")
    with pytest.raises(InputError, match="file not found"):
        decode(tmp_path / "missing.jpg")
    with pytest.raises(InputError, match="not a file"):
        decode(tmp_path)
