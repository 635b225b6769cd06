"""The scalp region of global views (photostation/qa/region.py)."""
from __future__ import annotations

import numpy as np

from photostation.qa.region import scalp_region
from photostation.synthetic import CrownHead, Lighting, Optics, Pose, render_crown


def region_of(linear, protocol):
    return scalp_region(linear, whole_frame=False, backdrop_texture_max=protocol.qa.region.backdrop_texture_max,
                        min_share_pct=protocol.qa.region.min_share_pct)


def test_head_against_a_backdrop_is_found(protocol):
    render = render_crown(CrownHead(hair_colour="black", thinning_severity=0.6, seed=3), Pose(), Lighting(),
                          Optics(), image_size=(800, 600), rng=3)
    linear = (render.image.astype(np.float32) / 255.0) ** 2.2
    found = region_of(linear, protocol)
    assert found.backdrop_found
    iou = (found.mask & render.scalp_mask).sum() / (found.mask | render.scalp_mask).sum()
    assert iou > 0.85


def test_frame_filled_by_hair_shirt_and_wall_is_not_a_backdrop(protocol):
    """A crown filling the frame: smooth dark hair along a third of the border, a pale wall and a
    blue shirt along the rest, a bald patch in the middle. No colour holds most of the border, so
    there is no backdrop: the whole frame is taken, not the bald patch alone (which is what the
    border's median colour, dark hair, made the region before)."""
    rng = np.random.default_rng(0)
    h, w = 600, 600
    image = np.empty((h, w, 3), np.float32)
    image[:] = (0.02, 0.018, 0.016)                                  # dark hair
    image[:100] = (0.75, 0.75, 0.72)                                 # wall along the top
    image[500:] = (0.05, 0.08, 0.25)                                 # shirt along the bottom
    yy, xx = np.mgrid[:h, :w]
    image[(yy - 300) ** 2 + (xx - 300) ** 2 < 150 ** 2] = (0.55, 0.36, 0.30)  # bald patch
    image += rng.normal(0, 0.004, image.shape).astype(np.float32)
    found = region_of(np.clip(image, 0, 1), protocol)
    assert not found.backdrop_found
    assert found.mask.all()
