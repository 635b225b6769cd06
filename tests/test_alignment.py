"""The independent tile check of a registration (pipelines.alignment)."""
from __future__ import annotations

import numpy as np

from photostation.qa.pixels import luminance, to_linear
from photostation.synthetic import Lighting, Optics, Pose, evolve_patch, make_scalp_patch, render_trichoscopy
from pipelines.alignment import check_alignment


def test_tiles_confirm_the_true_registration_and_measure_an_offset():
    rng = np.random.default_rng(3)
    patch = make_scalp_patch(rng, 14, 12, density_per_cm2=160, hair_colour="black")
    later, _ = evolve_patch(patch, rng)
    kw = dict(image_size=(1200, 900), field_width_mm=10.0, clipped=True, focal_length_35mm=40)
    base = render_trichoscopy(patch, Pose(), Lighting(), Optics(), rng=1, **kw)
    follow = render_trichoscopy(later, Pose(rotation_deg=6.0, scale=1.04), Lighting(), Optics(), rng=2, **kw)
    yb, yf = luminance(to_linear(base.image)), luminance(to_linear(follow.image))
    truth = base.scalp_to_image @ np.linalg.inv(follow.scalp_to_image)
    right = check_alignment(yf, yb, truth, side=1000, on_skin=True)
    assert right.tiles >= 50 and right.median_shift_px < 0.5
    for offset in (2.0, 3.0):
        moved = np.array([[1.0, 0.0, offset], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]) @ truth
        off = check_alignment(yf, yb, moved, side=1000, on_skin=True)
        assert abs(off.median_shift_px - offset) < 0.6
    # A blank pair has no texture to confirm anything with.
    flat = np.full((900, 1200), 0.2, np.float32)
    assert check_alignment(flat, flat, np.eye(3), side=1000, on_skin=False).tiles == 0
