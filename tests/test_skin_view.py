"""The scalp without its hair, for registration (photostation.qa.skin_view)."""
from __future__ import annotations

import cv2
import numpy as np

from photostation.qa.skin_view import skin_view


def _skin_with_hair(rng: np.random.Generator, width: int, size=(600, 800)) -> tuple[np.ndarray, np.ndarray]:
    """A textured skin-grey image with dark straight shafts ``width`` px wide; and the shafts."""
    h, w = size
    skin = 170 + cv2.GaussianBlur(rng.normal(0, 25, size).astype(np.float32), (0, 0), 2.0)
    shafts = np.zeros(size, np.uint8)
    for _ in range(25):
        x0, y0 = rng.uniform(0, w), rng.uniform(0, h)
        a = rng.uniform(0, np.pi)
        dx, dy = 400 * np.cos(a), 400 * np.sin(a)
        cv2.line(shafts, (int(x0 - dx), int(y0 - dy)), (int(x0 + dx), int(y0 + dy)), 1, width, cv2.LINE_AA)
    image = np.where(shafts > 0, 60.0, skin)
    return np.clip(image, 0, 255).astype(np.uint8), shafts > 0


def test_hair_is_found_filled_and_kept_out_of_the_features():
    image, shafts = _skin_with_hair(np.random.default_rng(0), width=7)
    view = skin_view(image)
    assert view is not None
    assert 4.5 <= view.hair_width_px <= 9.5
    # Most shaft pixels are found, few skin pixels are taken for hair.
    assert view.hair[shafts].mean() > 0.9 and view.hair[~shafts].mean() < 0.1
    # Keypoints stay off the shafts (bar a few anti-aliased edge pixels), and the shafts are
    # filled with skin-like grey.
    assert (view.keypoint_mask[shafts] > 0).mean() < 0.005
    assert view.grey[shafts].mean() > 130 and abs(float(view.grey[~shafts].mean()) - float(image[~shafts].mean())) < 3
    assert 0.2 < view.skin_share < 0.95


def test_thin_lines_of_a_global_view_are_left_alone():
    image, _ = _skin_with_hair(np.random.default_rng(1), width=1)
    assert skin_view(image) is None
    flat = np.full((400, 400), 128, np.uint8)
    assert skin_view(flat) is None
