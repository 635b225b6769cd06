"""The camera's tone curve, measured on the card's grey ramp.

A camera JPEG is not linear sRGB: the camera applies its own tone curve (a toe, a shoulder,
contrast) and industrial cameras often write linear data with no curve at all. Decoding such
a file with the sRGB curve leaves a nonlinearity that no colour matrix can undo. The card's
neutral patches have known reflectances, so each channel's response can be read off them
and inverted before the colour model is fitted (Finlayson, Mackiewicz & Hurlbert 2015 fit
their models to linearised camera data; ISO 17321-1 measures the opto-electronic conversion
function from a grey scale the same way).

The fit has no free parameter beyond the choice of interpolant: per channel, a monotone
piecewise-cubic Hermite interpolant (PCHIP, Fritsch & Carlson 1980) of log reference
luminance against log measured value through the usable grey patches, extended beyond the
lightest and darkest grey by straight lines in log-log (a power law) with the end segments'
slopes. It passes through every grey, so the greys come out neutral; monotone, so the order
of tones is kept.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.interpolate import PchipInterpolator

LUMINANCE = np.array([0.2126, 0.7152, 0.0722])
"""Rec. 709 / sRGB luminance weights of linear RGB."""
FLOOR = 1e-4
"""Values below this (a tenth of an 8-bit code in linear light) are treated as black."""
MIN_GREYS = 3
"""Fewest grey patches a curve is fitted through (two points give only a power law)."""
_TABLE_POINTS = 1024


@dataclass(frozen=True)
class ToneCurve:
    """Per-channel linearisation: measured (sRGB-decoded) value -> linear value proportional
    to reflectance. Knots are in natural log units; ``log_in[c]`` increasing.

    ``tint_log_in``/``tint_gain``: after the colour matrix, each channel is multiplied by the
    reference greys' own tint at that level (see :func:`grey_tints`); empty for none."""

    log_in: tuple[tuple[float, ...], tuple[float, ...], tuple[float, ...]]
    log_out: tuple[tuple[float, ...], tuple[float, ...], tuple[float, ...]]
    tint_log_in: tuple[tuple[float, ...], ...] = ()
    tint_gain: tuple[tuple[float, ...], ...] = ()

    def to_json(self) -> dict[str, list[list[float]]]:
        """The knots in linear units (what a reader of ``calibrate --json`` can plot)."""
        data = {"measured": [np.round(np.exp(k), 6).tolist() for k in self.log_in],
                "linear": [np.round(np.exp(k), 6).tolist() for k in self.log_out]}
        if self.tint_gain:
            data["tint_level"] = [np.round(np.exp(k), 6).tolist() for k in self.tint_log_in]
            data["tint_gain"] = [np.round(k, 6).tolist() for k in self.tint_gain]
        return data

    @classmethod
    def from_json(cls, data: dict[str, list[list[float]]]) -> "ToneCurve":
        def logs(key: str) -> tuple[tuple[float, ...], ...]:
            return tuple(tuple(np.log(np.asarray(k, float)).tolist()) for k in data.get(key, ()))

        return cls(logs("measured"), logs("linear"), logs("tint_level"),
                   tuple(tuple(float(v) for v in k) for k in data.get("tint_gain", ())))

    def with_tints(self, tints: tuple[tuple[tuple[float, ...], ...], tuple[tuple[float, ...], ...]]) -> "ToneCurve":
        return ToneCurve(self.log_in, self.log_out, tints[0], tints[1])


def _monotone_knots(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sort by measured value, drop points closer than 0.1 % in log, and make the output
    non-decreasing (a darker grey measured brighter is noise: pool it with its neighbour)."""
    order = np.argsort(x)
    x, y = x[order], y[order]
    keep = np.concatenate([[True], np.diff(x) > 1e-3])
    x, y = x[keep], y[keep]
    # Pool-adjacent-violators (isotonic regression) on the reference values.
    blocks = [[v, 1] for v in y]
    merged: list[list[float]] = []
    for value, weight in blocks:
        merged.append([value, weight])
        while len(merged) > 1 and merged[-2][0] > merged[-1][0]:
            v2, w2 = merged.pop()
            v1, w1 = merged.pop()
            merged.append([(v1 * w1 + v2 * w2) / (w1 + w2), w1 + w2])
    y = np.concatenate([[v] * int(w) for v, w in merged])
    # Strictly increasing output keeps the curve invertible and the end slopes positive.
    y = y + np.arange(len(y)) * 1e-6
    return x, y


def fit_tone_curve(measured: np.ndarray, reference: np.ndarray) -> ToneCurve:
    """Fit each channel's tone curve through the grey patches.

    Parameters
    ----------
    measured : numpy.ndarray
        ``(N, 3)`` sRGB-decoded RGB of the usable grey patches (N >= 3).
    reference : numpy.ndarray
        ``(N, 3)`` their reference linear RGB; their luminance is the target of every
        channel, so the curve also balances the channels (a white balance on the greys).

    Returns
    -------
    ToneCurve
    """
    measured = np.asarray(measured, float)
    if len(measured) < MIN_GREYS:
        raise ValueError(f"a tone curve needs at least {MIN_GREYS} grey patches, got {len(measured)}")
    target = np.log(np.clip(np.asarray(reference, float) @ LUMINANCE, FLOOR, None))
    log_in, log_out = [], []
    for channel in range(3):
        x, y = _monotone_knots(np.log(np.clip(measured[:, channel], FLOOR, None)), target)
        if len(x) < 2:
            raise ValueError("the grey patches do not differ in this channel: no tone curve")
        log_in.append(tuple(x.tolist()))
        log_out.append(tuple(y.tolist()))
    return ToneCurve(tuple(log_in), tuple(log_out))


def grey_tints(reference: np.ndarray) -> tuple[tuple[tuple[float, ...], ...], tuple[tuple[float, ...], ...]]:
    """The reference greys' own tints, level by level, against their common colour.

    A chart's greys are not exactly neutral nor all the same tint (the ColorChecker's white is
    slightly yellow, its dark greys slightly blue: up to 5 % between channels). A correction
    that keeps greys on one axis (white-point preserving) is then off by that much on each
    grey; multiplying each channel afterwards by the grey's own tint at that level restores
    them. The gains come from the reference data alone: nothing is fitted to the photo.

    Parameters
    ----------
    reference : numpy.ndarray
        ``(N, 3)`` reference linear RGB of the usable greys.

    Returns
    -------
    tuple
        ``(log_level, gain)``: per channel, log of the channel's value on the common axis at
        each grey (increasing) and the gain that brings it to the grey's reference.
    """
    reference = np.asarray(reference, float)
    luminance = np.clip(reference @ LUMINANCE, FLOOR, None)
    axis = neutral_axis(reference)
    on_axis = luminance[:, None] * axis
    order = np.argsort(luminance)
    return (tuple(tuple(np.log(on_axis[order, c]).tolist()) for c in range(3)),
            tuple(tuple((reference[order, c] / on_axis[order, c]).tolist()) for c in range(3)))


def neutral_axis(reference: np.ndarray) -> np.ndarray:
    """The greys' common colour: the mean of each grey's RGB over its luminance."""
    reference = np.asarray(reference, float)
    return np.mean(reference / np.clip(reference @ LUMINANCE, FLOOR, None)[:, None], axis=0)


def apply_tints(values: np.ndarray, curve: ToneCurve) -> np.ndarray:
    """Multiply each channel by the reference greys' tint at its level (see :func:`grey_tints`);
    held constant beyond the lightest and darkest grey."""
    if not curve.tint_gain:
        return values
    out = np.array(values, copy=True)
    for channel in range(3):
        v = out[..., channel]
        gain = np.interp(np.log(np.clip(v, FLOOR, None)), curve.tint_log_in[channel], curve.tint_gain[channel])
        out[..., channel] = v * gain
    return out


@lru_cache(maxsize=256)  # cross-validation refits the same greys' curve for every non-grey patch
def _channel_function(log_in: tuple[float, ...], log_out: tuple[float, ...]):
    x, y = np.asarray(log_in), np.asarray(log_out)
    low_slope = (y[1] - y[0]) / (x[1] - x[0])
    high_slope = (y[-1] - y[-2]) / (x[-1] - x[-2])
    inner = PchipInterpolator(x, y, extrapolate=False) if len(x) > 2 else None

    def log_curve(log_value: np.ndarray) -> np.ndarray:
        out = inner(np.clip(log_value, x[0], x[-1])) if inner is not None else np.interp(log_value, x, y)
        out = np.where(log_value < x[0], y[0] + low_slope * (log_value - x[0]), out)
        return np.where(log_value > x[-1], y[-1] + high_slope * (log_value - x[-1]), out)

    return log_curve


def apply_tone_curve(values: np.ndarray, curve: ToneCurve) -> np.ndarray:
    """Linearise sRGB-decoded RGB ``(..., 3)`` with a fitted curve.

    Arrays of more than 4,096 pixels go through a 1,024-point table per channel (evenly
    spaced in log from ``FLOOR`` to e^0.5, linear interpolation between points; the test
    suite holds it within 0.2 % of the exact curve) instead of evaluating the interpolant
    per pixel; zero and negative values stay zero.
    """
    values = np.asarray(values)
    out = np.empty(values.shape, np.float32 if values.dtype == np.float32 else float)
    grid = np.linspace(np.log(FLOOR), 0.5, _TABLE_POINTS)  # up to e^0.5: values over 1 after flat-fielding
    for channel in range(3):
        function = _channel_function(curve.log_in[channel], curve.log_out[channel])
        v = values[..., channel]
        if v.size <= 4096:
            log_v = np.log(np.clip(v, FLOOR, None))
            result = np.exp(function(log_v))
        else:
            # np.interp holds the end values beyond the table (over e^0.5, i.e. far brighter
            # than white after flat-fielding), which clips rather than extrapolates.
            result = np.exp(np.interp(np.log(np.clip(v, FLOOR, None)), grid, function(grid)))
        out[..., channel] = np.where(v > 0, result, 0.0)
    return out
