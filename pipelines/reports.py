"""Pictures of a comparison for the clinician (``photostation compare --out DIR``): the
registered follow-up, the two side by side, a 50 % blend, a flicker animation between them,
and the hairs matched, lost and new in three colours. Arrays in, arrays out; the CLI writes
the files."""
from __future__ import annotations

import cv2
import numpy as np

from pipelines.compare import Comparison

MATCHED, LOST, NEW = (40, 200, 60), (230, 40, 40), (40, 120, 255)


def _srgb8(linear: np.ndarray) -> np.ndarray:
    linear = np.clip(linear, 0.0, 1.0)
    encoded = np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * np.power(linear, 1 / 2.4) - 0.055)
    return np.round(encoded * 255.0).astype(np.uint8)


def report_images(comparison: Comparison) -> dict[str, np.ndarray | list[np.ndarray]]:
    """The report pictures of a comparison, by file stem.

    Returns
    -------
    dict
        ``registered_followup``, ``side_by_side``, ``blend``, ``flicker`` (two frames for an
        animation) and, for trichoscopy, ``hairs`` (matched green, lost red, new blue on the
        baseline, each at the middle of its shaft). Empty when the pair could not be
        registered.
    """
    images = comparison.images
    if "registered_followup" not in images:
        return {}
    base = _srgb8(images["baseline"])
    follow = _srgb8(images["registered_followup"])
    common = images["common"]
    follow_shown = np.where(common[..., None], follow, base // 3)
    gap = np.full((base.shape[0], 12, 3), 255, np.uint8)
    out: dict[str, np.ndarray | list[np.ndarray]] = {
        "registered_followup": follow_shown,
        "side_by_side": np.hstack([base, gap, follow_shown]),
        "blend": cv2.addWeighted(base, 0.5, follow_shown, 0.5, 0.0),
        "flicker": [base, follow_shown],
    }
    outline = cv2.morphologyEx(common.astype(np.uint8), cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) > 0
    radius = max(4, int(round(base.shape[1] / 250)))
    matching = comparison.matching
    if matching is not None:
        canvas = base.copy()
        canvas[outline] = (255, 255, 255)
        for (x, y), matched, lost in zip(matching.base_roots, matching.matched, matching.lost):
            centre = (int(round(x)), int(round(y)))
            if matched:
                cv2.circle(canvas, centre, radius, MATCHED, 2, cv2.LINE_AA)
            if lost:
                cv2.circle(canvas, centre, radius + 3, LOST, 2, cv2.LINE_AA)
        for (x, y), new in zip(matching.follow_roots, matching.new):
            if new:
                cv2.circle(canvas, (int(round(x)), int(round(y))), radius + 3, NEW, 2, cv2.LINE_AA)
        out["hairs"] = canvas
    return out
