"""The photographer's "match this" view: the baseline as a ghost over the new shot.

The baseline is laid over the new shot unwarped, in its own framing: the photographer moves
the camera until the two coincide. Baseline edges are drawn in cyan so they read over hair;
when the pair was registered, the outline of the baseline's frame as it falls in the new
shot is drawn in green, with an arrow from the new shot's centre to where the baseline's
centre lies.
"""
from __future__ import annotations

import cv2
import numpy as np


def _to_uint8(image: np.ndarray) -> np.ndarray:
    if image.dtype == np.uint8:
        return image
    return np.clip(np.round(image.astype(np.float64) / 257.0), 0, 255).astype(np.uint8)


def ghost_overlay(new_shot: np.ndarray, baseline: np.ndarray, follow_to_base: np.ndarray | None = None,
                  *, opacity: float = 0.45) -> np.ndarray:
    """Render the ghost overlay.

    Parameters
    ----------
    new_shot : numpy.ndarray
        RGB of the new shot (uint8 or uint16).
    baseline : numpy.ndarray
        RGB of the baseline (any size; resized to the new shot's frame).
    follow_to_base : numpy.ndarray, optional
        Registration (new-shot pixels -> baseline pixels, at the sizes given). When given,
        the baseline frame's outline and the centring arrow are drawn.
    opacity : float
        Weight of the baseline in the blend.

    Returns
    -------
    numpy.ndarray
        ``uint8`` RGB at the new shot's size.
    """
    shot = _to_uint8(new_shot)
    h, w = shot.shape[:2]
    base = cv2.resize(_to_uint8(baseline), (w, h), interpolation=cv2.INTER_AREA)
    out = cv2.addWeighted(shot, 1.0 - opacity, base, opacity, 0.0)
    edges = cv2.Canny(cv2.GaussianBlur(cv2.cvtColor(base, cv2.COLOR_RGB2GRAY), (0, 0), 2.0), 30, 90)
    out[edges > 0] = (0, 255, 255)
    thickness = max(2, round(max(w, h) / 400))
    if follow_to_base is not None:
        bh, bw = baseline.shape[:2]
        to_shot = np.linalg.inv(follow_to_base)
        corners = np.array([[[0, 0]], [[bw - 1, 0]], [[bw - 1, bh - 1]], [[0, bh - 1]]], np.float64)
        outline = cv2.perspectiveTransform(corners, to_shot).reshape(-1, 2)
        cv2.polylines(out, [np.round(outline).astype(np.int32)], True, (0, 255, 0), thickness, cv2.LINE_AA)
        target = cv2.perspectiveTransform(np.array([[[(bw - 1) / 2, (bh - 1) / 2]]], np.float64), to_shot).reshape(2)
        centre = ((w - 1) / 2, (h - 1) / 2)
        cv2.arrowedLine(out, tuple(int(round(v)) for v in centre), tuple(int(round(v)) for v in target),
                        (255, 255, 0), thickness, cv2.LINE_AA, tipLength=0.05)
    return out
