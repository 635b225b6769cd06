"""Focus ratio on real camera files: resampling is not defocus, a 1-px blur is
(issue 13: a real frame resampled by 4 % read 0.44x its own fine detail)."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image

from photostation.qa.focus import focus_ratio, measure_focus
from photostation.qa.pixels import luminance, to_linear


def _focus(rgb: np.ndarray):
    y = luminance(to_linear(np.ascontiguousarray(rgb)))
    return measure_focus(y, np.ones(y.shape, bool))


@pytest.mark.parametrize("name", ["jpg/Canon_PowerShot_S40.jpg", "jpg/Reconyx_HC500_Hyperfire.jpg"])
def test_resampling_keeps_the_focus_and_a_one_pixel_blur_does_not(real, protocol, name):
    rgb = np.asarray(Image.open(real(name)).convert("RGB"))
    base = _focus(rgb)
    warn = protocol.qa.focus.ratio_warn_below
    for factor in (0.96, 1.04, 0.9, 1.1):
        resampled = cv2.resize(rgb, None, fx=factor, fy=factor,
                               interpolation=cv2.INTER_AREA if factor < 1 else cv2.INTER_CUBIC)
        assert focus_ratio(_focus(resampled), base) > warn, factor
    ok, data = cv2.imencode(".jpg", rgb[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 70])
    assert focus_ratio(_focus(cv2.imdecode(data, cv2.IMREAD_COLOR)[..., ::-1]), base) > warn
    assert focus_ratio(_focus(cv2.GaussianBlur(rgb, (0, 0), 1.0)), base) < warn
