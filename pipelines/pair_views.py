"""Views of a compared pair for the review app's Compare page, at screen resolution: the
follow-up registered onto the baseline, a wipe, a blend, a flicker animation, the hairs
matched, lost and new with the clinician's corrections, and a zoom.

Arrays in, arrays out: uint8 RGB ``(H, W, 3)`` images already downscaled for the screen by
the caller, who also gives the factors between the screen copies and the original files (the
stored registration and hair roots are in the original files' pixels). Coordinates are
continuous with the origin at the top-left corner of the image, as in
:mod:`pipelines.compare`, so a scale change is a plain multiplication.

Colours are the Okabe-Ito palette (Okabe M., Ito K., "Color Universal Design", 2008), told
apart by readers with any common colour-vision deficiency; every marker status also has its
own shape, and every marker a thin black outline so that it shows on skin and on dark hair.
"""
from __future__ import annotations

import io
import math
from collections.abc import Iterable, Sequence
from typing import Any

import cv2
import numpy as np
from PIL import Image

OKABE_ITO: dict[str, tuple[int, int, int]] = {
    "black": (0, 0, 0), "orange": (230, 159, 0), "sky blue": (86, 180, 233), "bluish green": (0, 158, 115),
    "yellow": (240, 228, 66), "blue": (0, 114, 178), "vermillion": (213, 94, 0), "reddish purple": (204, 121, 167),
}
"""The Okabe-Ito colours by name, RGB."""

STATUS_COLOUR: dict[str, str] = {"matched": "bluish green", "lost": "vermillion", "new": "sky blue",
                                 "removed": "yellow", "added": "reddish purple"}
"""Hair status -> Okabe-Ito colour name of its marker."""

STATUS_SHAPE: dict[str, str] = {"matched": "circle", "lost": "square", "new": "diamond", "removed": "cross",
                                "added": "triangle"}
"""Hair status -> marker shape (a second cue beside the colour)."""

STATUS_RGB: dict[str, tuple[int, int, int]] = {status: OKABE_ITO[name] for status, name in STATUS_COLOUR.items()}
"""Hair status -> RGB of its marker, exactly as drawn."""

LEGEND: dict[str, str] = {status: f"{STATUS_COLOUR[status]} {STATUS_SHAPE[status]}" for status in STATUS_COLOUR}
"""Hair status -> words for the legend, e.g. ``"lost": "vermillion square"``."""

NO_PHOTO_GREY = (128, 128, 128)
"""Where the registered follow-up shows nothing (outside its frame): neutral mid grey."""

SIDES = {"baseline": ("matched", "lost"), "followup": ("matched", "new")}
"""The statuses a stored hair can have on each photo."""


def _rgb8(image: np.ndarray, name: str) -> np.ndarray:
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3 or not image.size:
        raise ValueError(f"{name} must be a uint8 RGB array (H, W, 3), got {image.dtype} {image.shape}")
    return image


def _same_size(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b = _rgb8(a, "a"), _rgb8(b, "b")
    if a.shape != b.shape:
        raise ValueError(f"the two images differ in size: {a.shape} and {b.shape}")
    return a, b


def registered_followup(baseline_rgb: np.ndarray, followup_rgb: np.ndarray, matrix: np.ndarray | Sequence,
                        baseline_size: tuple[int, int], followup_size: tuple[int, int]) -> np.ndarray:
    """The follow-up warped into the baseline's frame, at the baseline copy's size.

    Parameters
    ----------
    baseline_rgb, followup_rgb : numpy.ndarray
        Screen copies (uint8 RGB), each downscaled from its original file by any factor.
    matrix : array_like
        3x3 homography from follow-up ORIGINAL file pixels to baseline ORIGINAL file pixels
        (the stored ``registration.matrix``).
    baseline_size, followup_size : tuple of int
        ``(width, height)`` of each original file.

    Returns
    -------
    numpy.ndarray
        uint8 RGB, the shape of ``baseline_rgb``; where the follow-up shows nothing, neutral
        grey (:data:`NO_PHOTO_GREY`), never black that could read as hair.
    """
    base, follow = _rgb8(baseline_rgb, "baseline_rgb"), _rgb8(followup_rgb, "followup_rgb")
    matrix = np.asarray(matrix, np.float64)
    if matrix.shape != (3, 3) or not np.isfinite(matrix).all():
        raise ValueError("matrix must be a finite 3x3 homography")
    (bw, bh), (fw, fh) = baseline_size, followup_size
    if min(bw, bh, fw, fh) <= 0:
        raise ValueError("the original sizes must be positive (width, height)")
    h, w = base.shape[:2]
    # Each copy's own x and y factors: rounding of a downscale can make them differ slightly.
    to_base_screen = np.diag([w / bw, h / bh, 1.0])
    from_follow_screen = np.diag([fw / follow.shape[1], fh / follow.shape[0], 1.0])
    screen = to_base_screen @ matrix @ from_follow_screen
    return cv2.warpPerspective(follow, screen, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                               borderValue=NO_PHOTO_GREY)


def wipe(a: np.ndarray, b: np.ndarray, position: float) -> np.ndarray:
    """``a`` left of the position, ``b`` right of it, with a thin divider.

    Parameters
    ----------
    a, b : numpy.ndarray
        Same-size uint8 RGB images (baseline and registered follow-up).
    position : float
        Where the divide is, 0 (all ``b``) to 1 (all ``a``) of the width; clipped to 0..1.

    Returns
    -------
    numpy.ndarray
        Columns left of ``round(position * width)`` from ``a``, the rest from ``b``; the
        divider (a white line between two black ones, 3 px in all at up to 1200 px wide) is
        drawn over the columns next to the divide so it shows on any content.
    """
    a, b = _same_size(a, b)
    w = a.shape[1]
    at = int(round(float(np.clip(position, 0.0, 1.0)) * w))
    out = b.copy()
    out[:, :at] = a[:, :at]
    light = max(1, w // 1200)
    first = at - (light + 1) // 2 - 1  # the left black column; the right one is at ``last - 1``
    last = at + light // 2 + 1
    out[:, max(first, 0):max(last, 0)] = 0
    out[:, max(first + 1, 0):max(last - 1, 0)] = 255
    return out


def blend(a: np.ndarray, b: np.ndarray, alpha: float) -> np.ndarray:
    """Weighted mean ``(1 - alpha) * a + alpha * b``, rounded.

    Parameters
    ----------
    a, b : numpy.ndarray
        Same-size uint8 RGB images.
    alpha : float
        Share of ``b``, 0..1.

    Returns
    -------
    numpy.ndarray
        uint8 RGB.
    """
    a, b = _same_size(a, b)
    alpha = float(alpha)
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha}")
    mixed = (1.0 - alpha) * a.astype(np.float32) + alpha * b.astype(np.float32)
    return np.clip(np.rint(mixed), 0, 255).astype(np.uint8)


def _text_scale(shape: tuple[int, ...], fraction: float) -> float:
    # Hershey simplex digits are about 22 px tall at scale 1.
    return max(0.3, fraction * min(shape[:2]) / 22.0)


def _outlined_text(canvas: np.ndarray, text: str, origin: tuple[int, int], scale: float) -> None:
    """White text with a black outline: readable on skin and on hair."""
    thickness = max(1, int(round(scale)))
    cv2.putText(canvas, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thickness + 2, cv2.LINE_AA)
    cv2.putText(canvas, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thickness, cv2.LINE_AA)


def _labelled(rgb: np.ndarray, text: str) -> np.ndarray:
    out = rgb.copy()
    scale = _text_scale(rgb.shape, 0.03)
    thickness = max(1, int(round(scale)))
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness + 2)
    pad = max(2, th // 3)
    # A dark box behind the word: the label must not depend on what lies under it.
    cv2.rectangle(out, (0, 0), (tw + 2 * pad, th + base + 2 * pad), (0, 0, 0), -1)
    _outlined_text(out, text, (pad, pad + th), scale)
    return out


def flicker_gif(a: np.ndarray, b: np.ndarray, period_ms: int = 700) -> bytes:
    """An animated GIF showing ``a`` and ``b`` in turn, forever, each labelled.

    Parameters
    ----------
    a, b : numpy.ndarray
        Same-size uint8 RGB images: the baseline and the registered follow-up.
    period_ms : int
        How long each image is shown, 20-10000 ms.

    Returns
    -------
    bytes
        GIF with two frames, ``baseline`` and ``follow-up`` burned in at the top left, looping
        forever. Both frames share one palette so that what did not change looks identical in
        both (per-frame palettes would flicker by themselves).
    """
    a, b = _same_size(a, b)
    period_ms = int(period_ms)
    if not 20 <= period_ms <= 10_000:
        raise ValueError(f"period_ms must be 20-10000, got {period_ms}")
    frames = [_labelled(a, "baseline"), _labelled(b, "follow-up")]
    palette = Image.fromarray(np.vstack(frames)).quantize(256, method=Image.Quantize.MEDIANCUT,
                                                          dither=Image.Dither.NONE)
    shown = [Image.fromarray(f).quantize(palette=palette, dither=Image.Dither.NONE) for f in frames]
    out = io.BytesIO()
    shown[0].save(out, "GIF", save_all=True, append_images=shown[1:], duration=period_ms, loop=0, disposal=1)
    return out.getvalue()


def _shape(canvas: np.ndarray, shape: str, centre: tuple[int, int], r: int, colour: tuple[int, int, int],
           thickness: int) -> None:
    x, y = centre
    if shape == "circle":
        cv2.circle(canvas, (x, y), r, colour, thickness, cv2.LINE_8)
    elif shape == "cross":
        cv2.line(canvas, (x - r, y - r), (x + r, y + r), colour, thickness, cv2.LINE_8)
        cv2.line(canvas, (x - r, y + r), (x + r, y - r), colour, thickness, cv2.LINE_8)
    else:
        corners = {"square": [(x - r, y - r), (x + r, y - r), (x + r, y + r), (x - r, y + r)],
                   "diamond": [(x, y - r), (x + r, y), (x, y + r), (x - r, y)],
                   "triangle": [(x, y - r), (x + r, y + r), (x - r, y + r)]}[shape]
        cv2.polylines(canvas, [np.array(corners, np.int32).reshape(-1, 1, 2)], True, colour, thickness, cv2.LINE_8)


def _marker(canvas: np.ndarray, status: str, centre: tuple[int, int], radius: int) -> None:
    """One marker: the status's shape in its colour over a black outline one pixel wider each side.
    Not antialiased, so that the colours on screen are exactly the legend's."""
    thickness = max(2, radius // 3)
    _shape(canvas, STATUS_SHAPE[status], centre, radius, (0, 0, 0), thickness + 2)
    _shape(canvas, STATUS_SHAPE[status], centre, radius, STATUS_RGB[status], thickness)


def hair_overlay(rgb: np.ndarray, hairs: Sequence[dict[str, Any]], factor: float, removed: Iterable[int] = (),
                 added: Iterable[Sequence[float]] = (), side: str = "baseline", numbers: bool = True, *,
                 offset_px: tuple[float, float] = (0.0, 0.0), radius_px: int | None = None) -> np.ndarray:
    """The hairs of one photo marked at their roots, numbered, with the clinician's edits.

    Parameters
    ----------
    rgb : numpy.ndarray
        The photo's screen copy (uint8 RGB), NOT the registered follow-up: roots are in each
        photo's own pixels.
    hairs : sequence of dict
        That photo's stored hair list (:func:`pipelines.compare.hair_entries`): ``root``
        ``[x, y]`` in the original file's pixels and ``status``.
    factor : float
        Screen pixels per original file pixel; a root is drawn at ``root * factor - offset_px``.
    removed : iterable of int
        Indexes into ``hairs`` the clinician removed (false hairs): drawn as a cross instead
        of their status marker.
    added : iterable of [x, y]
        Missed hairs the clinician added, in the original file's pixels.
    side : {"baseline", "followup"}
        Which photo: a baseline hair is matched or lost, a follow-up hair matched or new.
    numbers : bool
        Draw each hair's index beside it (the clinician removes hairs by number); added hairs
        are numbered ``+1``, ``+2``, ... in the order added.
    offset_px : tuple of float
        Screen pixels subtracted from every position: to draw on a zoomed crop at the crop's
        own resolution (numbers stay small and sharp), pass the crop of :func:`zoom` with
        ``factor * zoom`` and ``offset_px = (x0 * zoom, y0 * zoom)``.
    radius_px : int, optional
        Marker size; default from the image size (9 px at 1200 x 900).

    Returns
    -------
    numpy.ndarray
        A marked copy of ``rgb``. Colours and shapes by status: :data:`LEGEND`,
        :data:`STATUS_RGB`.
    """
    canvas = _rgb8(rgb, "rgb").copy()
    if side not in SIDES:
        raise ValueError(f"side must be one of {', '.join(SIDES)}, got {side!r}")
    factor = float(factor)
    if not (math.isfinite(factor) and factor > 0):
        raise ValueError(f"factor must be a positive number, got {factor}")
    removed = {int(i) for i in removed}
    wrong = sorted(i for i in removed if not 0 <= i < len(hairs))
    if wrong:
        raise ValueError(f"removed hair index {wrong[0]} is not in the list of {len(hairs)} hairs")
    allowed = SIDES[side]
    radius = int(radius_px) if radius_px is not None else max(4, int(round(min(canvas.shape[:2]) / 100)))
    dx, dy = offset_px

    def at(point: Sequence[float]) -> tuple[int, int]:
        return int(round(float(point[0]) * factor - dx)), int(round(float(point[1]) * factor - dy))

    labels: list[tuple[str, tuple[int, int]]] = []
    for index, hair in enumerate(hairs):
        status = hair.get("status")
        if status not in allowed:
            raise ValueError(f"hair {index} has status {status!r}: a {side} hair is {' or '.join(allowed)}")
        centre = at(hair["root"])
        _marker(canvas, "removed" if index in removed else status, centre, radius)
        labels.append((str(index), centre))
    for number, point in enumerate(added, start=1):
        centre = at(point)
        _marker(canvas, "added", centre, radius)
        labels.append((f"+{number}", centre))
    if numbers:
        _numbers(canvas, labels, radius)
    return canvas


def _numbers(canvas: np.ndarray, labels: list[tuple[str, tuple[int, int]]], radius: int) -> None:
    """Each number beside its marker, after all markers so that none covers a number: right of
    the marker, else left, above or below, wherever it does not cover a number already drawn
    (hairs of one follicular unit stand close together, and a hair is removed by its number)."""
    scale = max(0.35, radius / 14.0)
    thickness = max(1, int(round(scale)))
    taken = np.zeros(canvas.shape[:2], bool)
    h, w = taken.shape
    for text, (x, y) in labels:
        (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness + 2)
        gap = radius + 2
        # Text origins (bottom left): right, left, above, below the marker.
        spots = [(x + gap, y + th // 2), (x - gap - tw, y + th // 2), (x - tw // 2, y - gap),
                 (x - tw // 2, y + gap + th)]
        for ox, oy in spots:
            if not taken[_text_box(ox, oy, tw, th, h, w)].any():
                break
        else:
            ox, oy = spots[0]
        _outlined_text(canvas, text, (ox, oy), scale)
        taken[_text_box(ox, oy, tw, th, h, w)] = True


def _text_box(ox: int, oy: int, tw: int, th: int, h: int, w: int) -> tuple[slice, slice]:
    """Rows and columns a text drawn at origin (ox, oy) covers, within the image."""
    return slice(min(max(oy - th - 1, 0), h), min(max(oy + 2, 0), h)), slice(min(max(ox - 1, 0), w),
                                                                             min(max(ox + tw + 1, 0), w))


def zoom(rgb: np.ndarray, centre: tuple[float, float], factor: float, *, method: str = "nearest",
         cross: bool = True) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """Magnify the part of an image around a centre, back to the image's size.

    Parameters
    ----------
    rgb : numpy.ndarray
        uint8 RGB, e.g. a :func:`hair_overlay`.
    centre : tuple of float
        ``(x, y)`` as fractions 0..1 of the width and height.
    factor : float
        Magnification, 1 or more (1: the whole image).
    method : {"nearest", "cubic"}
        Resampling: nearest keeps the markers' colours exact and shows the pixels as they are;
        cubic is smoother.
    cross : bool
        Mark the centre of the crop with a white cross (open in the middle, so the pixel under
        it stays visible): where an added hair is placed.

    Returns
    -------
    zoomed : numpy.ndarray
        Same size as ``rgb``.
    box : tuple of int
        ``(x0, y0, x1, y1)`` of the crop in ``rgb``'s pixels (``rgb[y0:y1, x0:x1]``): the pixel
        holding the requested centre is shown at the zoomed image's centre pixel, and the box's
        centre lies within it (within half a pixel of ``rgb``), unless the crop was moved
        inwards to stay inside the image; the cross is always at the box's centre.
        A point at ``(x, y)`` in ``rgb`` is at ``((x - x0) * w / (x1 - x0), (y - y0) * h / (y1 - y0))``
        in ``zoomed``.
    """
    image = _rgb8(rgb, "rgb")
    factor = float(factor)
    if not (math.isfinite(factor) and factor >= 1.0):
        raise ValueError(f"zoom factor must be 1 or more, got {factor}")
    if method not in ("nearest", "cubic"):
        raise ValueError(f"method must be 'nearest' or 'cubic', got {method!r}")
    h, w = image.shape[:2]
    cx, cy = (float(np.clip(c, 0.0, 1.0)) for c in centre)
    crop_w, crop_h = max(1, min(w, int(round(w / factor)))), max(1, min(h, int(round(h / factor))))
    # The pixel holding the centre is the one shown at the zoomed image's centre pixel (under
    # the cross), unless the crop would leave the image.
    px, py = min(int(cx * w), w - 1), min(int(cy * h), h - 1)
    x0 = min(max(px - math.floor((w // 2 + 0.5) * crop_w / w), 0), w - crop_w)
    y0 = min(max(py - math.floor((h // 2 + 0.5) * crop_h / h), 0), h - crop_h)
    crop = image[y0:y0 + crop_h, x0:x0 + crop_w]
    if method == "nearest":
        # Pixel centres map onto pixel centres (cv2's INTER_NEAREST is off by half a pixel).
        cols = x0 + np.minimum(((np.arange(w) + 0.5) * crop_w / w).astype(int), crop_w - 1)
        rows = y0 + np.minimum(((np.arange(h) + 0.5) * crop_h / h).astype(int), crop_h - 1)
        zoomed = image[rows[:, None], cols[None, :]]
    else:
        zoomed = cv2.resize(crop, (w, h), interpolation=cv2.INTER_CUBIC)
    zoomed = np.ascontiguousarray(zoomed)
    if cross:
        _centre_cross(zoomed)
    return zoomed, (int(x0), int(y0), int(x0 + crop_w), int(y0 + crop_h))


def _centre_cross(canvas: np.ndarray) -> None:
    h, w = canvas.shape[:2]
    x, y = w // 2, h // 2
    gap = max(3, min(h, w) // 150)
    arm = gap + max(6, min(h, w) // 40)
    for colour, thickness in (((0, 0, 0), 3), ((255, 255, 255), 1)):
        for (ax, ay), (bx, by) in (((x - arm, y), (x - gap, y)), ((x + gap, y), (x + arm, y)),
                                   ((x, y - arm), (x, y - gap)), ((x, y + gap), (x, y + arm))):
            cv2.line(canvas, (ax, ay), (bx, by), colour, thickness, cv2.LINE_8)
