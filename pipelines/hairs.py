"""Hairs in a trichoscopy close-up: detection, counting by emergence point, shaft widths.

One public function, :func:`detect_hairs`, on a linear RGB array. The image is reduced to a
working resolution where a terminal shaft is ~10 px wide and divided by a smooth skin
background (normalised convolution of the skin pixels), so every channel reads "share of
skin light": shafts are dark in all channels, follicle openings are brown, vellus hairs are
light and yellowish. The shaft core's darkness threshold and the lit-axis ridge threshold
follow the image's own shaft contrast (lighter hair, lower thresholds), and white hair
enters the core by its lightness over the skin.

* **Clipped hair** (phototrichogram): dark shaft pieces are split into single shafts by
  fanning straight bands out of each root candidate (a brown follicle opening, else the
  piece's upstream end in the local flow of the hair) and keeping the bands that explain
  shaft axis not yet explained (ridge filter on the lit axis; skeleton branches from
  :mod:`pipelines.skeleton`). Roots within a shaft width form one follicular unit. Hairs of
  a unit that leave the opening in one band are counted from the cut ends stacked on it,
  and the rest by their expected number given the hairs seen per unit and the unit-size mix
  of healthy or thinning scalp (Rudnicka L. et al., *Atlas of Trichoscopy*, Springer 2012;
  Bayes with a binomial visibility model).
* **Clipped hair, counted at the openings**: a follicle opening is a brown disc on the
  skin whose darkness and hue relative to the skin do not depend on the hair's colour, and
  it widens with the hairs it holds. Each opening's visible arc is fitted with a circle;
  its hairs are the number expected from its radius and the shafts seen leaving it (Bayes
  with the unit-size prior), and the openings lying under other hairs are an estimated
  share (``opening_recall``). The count is taken from the openings when enough shafts
  start at one (``min_opening_share``); otherwise (openings not seen as calibrated) from
  the shafts as above. The shafts
  still give the roots that two photos are matched on, and the widths.
* **Long hair**: a root is a shaft-wide band end facing upstream with open skin (no pixel
  as dark as a shaft, the root's own opening aside) and a follicle opening just upstream;
  roots under other hairs cannot be seen, so their number is estimated from the root
  density found where a root could have been seen (:func:`root_visible_area`). White
  shafts lying over much of the skin are brighter than it, so the skin background of long
  hair is taken only from pixels nearly as red as the image's reddest.
* **Shaft width**: across-shaft darkness profiles at several points along each shaft, the
  full width at ``width_level`` of the peak over the skin, measured from the lit axis to
  the nearer edge (a neighbour lying beside a shaft widens one side only).

Every parameter is a field of :class:`HairRules` (the protocol's ``[density.detector]``
table).
The accuracy on rendered close-ups with known truth is measured by
``benchmarks/hairs.py``; it is below the issue's targets (see benchmarks/README.md).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import cv2
import numpy as np
from scipy import ndimage
from skimage.feature import peak_local_max
from skimage.filters import apply_hysteresis_threshold
from skimage.morphology import skeletonize

from pipelines.skeleton import skeleton_graph

_LUMA = np.array([0.2126, 0.7152, 0.0722], np.float32)
_EIGHT = np.ones((3, 3), bool)


@dataclass(frozen=True)
class HairRules:
    """Parameters of the detector (plain numbers: the protocol's ``[density]`` table)."""

    terminal_width_um: float = 80.0
    """Typical terminal shaft width: ``shaft_width_px`` is this width at the image's scale."""
    working_width_px: float = 10.0
    """Terminal shaft width at which the detector works: larger images are reduced."""
    default_width_fraction: float = 0.008
    """First guess of the terminal shaft width, as a share of the image's shorter side, when
    no scale is given (refined from the image)."""
    hair_darkness: float = 0.55
    """Darkness (``1 - I / skin`` in the least darkened channel) above which a pixel is in a
    terminal shaft's core when the hair is dark (shafts reach 0.8-0.95, openings ~0.4, cast
    shadows <= 0.35); the most the core threshold can be on lighter hair."""
    shaft_level_percentile: float = 99.5
    """Percentile of the darkness over the region taken as the image's shaft darkness (the
    shafts' contrast; hair covers a few % of a clipped close-up even at low density)."""
    relative_darkness: float = 0.6
    """Core threshold as a share of the shaft darkness (lighter hair: a lower threshold),
    capped at ``hair_darkness``."""
    min_hair_darkness: float = 0.2
    """Least core threshold, whatever the shaft darkness (bare skin, skin texture)."""
    white_lightness: float = 0.25
    """Lightness over the skin (``min(G, B) / skin - 1``) above which a pixel is in a white
    (unpigmented) shaft's core: white hair is lighter than pink skin along its lit middle,
    most of all in green and blue; skin texture and specks stay below ~0.17."""
    opening_brownness: float = 0.02
    """Smallest local brownness (red minus blue, relative to skin) of a follicle opening."""
    band_cover: float = 0.6
    """Share of a shaft-wide band that must be hair for the band to continue."""
    min_new_widths: float = 1.5
    """A shaft must explain at least this many shaft widths of length not yet explained."""
    max_angle_deg: float = 35.0
    """Hairs of a unit leave within this angle of the unit's axis."""
    angle_step_deg: float = 1.5
    """Angular step of the shaft bands tried from a root."""
    max_hairs_per_unit: int = 4
    """Most hairs one follicular unit can hold (units of 1-4 hairs)."""
    end_step: float = 10.0
    """Least step of log luminance along a shaft's axis at a stacked hair's cut end."""
    unit_mate_seen: float = 0.42
    """Chance that a hair beyond a unit's first is seen apart from the others (clipped;
    calibrated on rendered units: the hairs of a unit leave nearly parallel)."""
    false_extra: float = 0.11
    """Chance that a unit shows one spurious shaft (calibrated with ``unit_mate_seen``)."""
    healthy_units_1: float = 0.30
    healthy_units_2: float = 0.45
    healthy_units_3: float = 0.20
    healthy_units_4: float = 0.05
    """Shares of 1-4-hair units on healthy scalp."""
    thinning_units_1: float = 0.62
    thinning_units_2: float = 0.30
    thinning_units_3: float = 0.07
    thinning_units_4: float = 0.01
    """Shares of 1-4-hair units on thinning scalp."""
    unclipped_skin_half: float = 0.45
    """Half width (shaft widths) of the skin zone upstream of a root on long hair."""
    unclipped_opening_brownness: float = 0.02
    """Least brownness of the skin just upstream of a root on long hair (its opening)."""
    unclipped_skin_max_cover: float = 0.1
    """Most share of the skin zone upstream of a long-hair root that may be hair."""
    unclipped_skin_max_darkness: float = 0.45
    """Least darkness that ends open skin upstream of a long-hair root, unless the core
    threshold is higher: the root's own opening lies there (darkness up to
    ``opening_darkness_max``, most of it lighter than this)."""
    unclipped_skin_red_margin: float = 0.3
    """Long hair: a pixel may be skin (for the skin background) only if its log(R/G) is
    within this of the image's reddest tenth; white and grey shafts, brighter than the skin
    and covering much of it, are not as red."""
    unclipped_root_recall: float = 1.05
    """Roots found on long hair per root expected from the area where one can be seen
    (calibration of the hidden-root estimate)."""
    unclipped_width_px: float = 7.0
    """Working terminal width for long hair (coarser: only band ends are needed)."""
    density_healthy: float = 180.0
    density_thinning: float = 60.0
    """Densities (hairs/cm2) at which the unit mix is the healthy or the thinning one."""
    explained_widths: float = 0.8
    """Width of the zone around a chosen shaft's axis whose axis pixels it explains."""
    axis_sigma_widths: float = 0.12
    """Scale of the shaft-axis ridge filter, in terminal widths."""
    axis_ridge: float = 0.5
    """Least ridge strength of a shaft's lit axis (log luminance) on dark hair; the most the
    axis threshold can be on lighter hair."""
    axis_ridge_share: float = 0.4
    """Axis threshold as a share of the image's axis strength (``axis_ridge_percentile`` of
    the ridge response inside the shaft core): a light shaft's sheen adds less to its
    luminance, so its lit axis is a weaker ridge."""
    axis_ridge_percentile: float = 90.0
    """Percentile of the ridge response inside the core taken as the image's axis strength."""
    min_axis_ridge: float = 0.05
    """Least axis threshold, whatever the image's axis strength."""
    width_level: float = 0.6
    """Shaft width is measured across the darkness profile at this share of its peak over
    the skin (above the cast shadow on one side)."""
    vellus_sigma_widths: float = 0.1
    """Scale of the fine-line filter, in terminal widths."""
    vellus_low: float = 0.08
    vellus_high: float = 0.15
    """Hysteresis thresholds of the fine-line response (yellowness units)."""
    min_vellus_widths: float = 3.0
    """Shortest fine shaft, in terminal widths."""
    clipped_max_length_widths: float = 25.0
    """Clipped images: the longest shafts (90th percentile) are shorter than this."""
    opening_darkness_min: float = 0.28
    opening_darkness_max: float = 0.55
    """Darkness range of a follicle opening's skin-side disc (rendered openings: ~0.38 for
    every hair colour; empty openings stay below ~0.27, dark shafts above 0.7)."""
    opening_blue_green_min: float = 0.86
    opening_blue_green_max: float = 1.08
    """Blue over green of an opening, relative to the skin (blond shafts: ~0.7)."""
    opening_red_blue_min: float = 0.04
    opening_red_blue_max: float = 0.30
    """Red minus blue over the brightest channel, relative to the skin (openings: ~0.13;
    cast shadows and black shafts' rims: 0 or below)."""
    opening_core_widths: float = 0.25
    """Radius (terminal widths) of the disc that must fit in an opening's pixels (an opening
    removes the thin rims of brown and auburn shafts)."""
    opening_min_area_widths2: float = 0.15
    """Least visible area of an opening, in squared terminal widths."""
    opening_shaft_weight: float = 1.0
    """Weight (exponent) of the likelihood of the shafts seen leaving an opening (the
    binomial visibility model of ``unit_mate_seen`` and ``false_extra``) beside its size;
    0 counts by size alone."""
    opening_shaft_outlier: float = 0.01
    """Chance that the number of shafts seen at an opening follows none of the visibility
    model (uniform over 1-4 then)."""
    opening_merge_widths: float = 0.6
    """Pieces whose circles' centres lie closer than the larger radius plus this many widths
    are one opening split by a hair lying over it."""
    opening_radius_widths_1: float = 0.55
    opening_radius_widths_2: float = 0.99
    opening_radius_widths_3: float = 1.36
    opening_radius_widths_4: float = 1.48
    """Median fitted radius (terminal widths) of the openings of 1-4-hair units (the opening
    widens with the hairs it holds; calibrated on rendered close-ups saved as JPEG)."""
    opening_radius_sd_widths: float = 0.18
    """Spread of an opening's fitted radius for a given number of hairs (terminal widths)."""
    opening_reach_widths: float = 0.7
    """A unit's root lies within the opening's radius plus this many widths of its centre."""
    opening_recall: float = 0.92
    """Hairs counted at the openings found per hair in the frame (the median over rendered
    JPEG close-ups: the rest lie in openings under other hairs or merged with a neighbour,
    less the hairs of false openings); the hairs of the openings not found are estimated
    from it."""
    opening_count_share: float = 0.9
    """Share of a clipped count taken from the openings when they are used, the rest from
    the shafts (their errors are nearly independent, correlation 0.18 on rendered JPEG
    close-ups, and the shaft count's is two to three times larger: inverse-variance
    weights)."""
    min_opening_share: float = 0.3
    """Hairs are counted at the openings only when at least this share of the shafts found
    start at one (a lone shaft: or end at one); else the image does not show openings as
    the calibration saw them, and the hairs are counted from their shafts."""


@dataclass(frozen=True)
class HairDetection:
    """Hairs found in one image (pixel coordinates x, y of the image given)."""

    roots_px: np.ndarray
    """``(N, 2)`` emergence points (x, y)."""
    ends_px: np.ndarray
    """``(N, 2)`` other ends (x, y)."""
    width_px: np.ndarray
    """``(N,)`` shaft diameter per hair of the detection (NaN where no profile across the
    shaft could be measured, e.g. at the frame's edge)."""
    length_px: np.ndarray
    """``(N,)``."""
    multiplicity: np.ndarray
    """``(N,)`` hairs the detection stands for (a unit's hairs lying together count as several)."""
    shaft_width_px: float
    """Typical terminal shaft width in the image."""
    hair_mask: np.ndarray = field(repr=False)
    """``(H, W)`` bool."""
    clipped: bool = True
    """Kind of image the hairs were counted as (given or detected)."""
    unit: np.ndarray | None = None
    """``(N,)`` follicular unit index per detection (detections leaving one opening share it)."""
    fine: np.ndarray | None = None
    """``(N,)`` bool: found as a fine (vellus-like) line."""
    hidden_count: float = 0.0
    """Expected hairs whose emergence points lie under other hairs (not in the arrays;
    spread over the analysed area). Long hair: the roots that cannot be seen; clipped hair
    counted at its openings: the openings not found (``opening_recall``)."""
    seen_multiplicity: np.ndarray | None = None
    """``(N,)`` hairs of each detection seen in the image: ``multiplicity`` less the hairs
    the unit-size prior added (hairs of a unit lying exactly over each other). These are
    the hairs two photos can be matched on. None: all of ``multiplicity``."""
    white_hair_pct: float = float("nan")
    """Share (%) of the analysed region lighter than the skin by more than
    ``white_lightness``: the white shafts of grey hair (~2-4 % of a clipped close-up of grey
    hair on the renders, under 1 % for every other colour). NaN when nothing was analysed."""
    shaft_darkness: float = float("nan")
    """How much darker than the skin the shafts are, ``1 - I_hair / I_skin`` in the channel
    the hair darkens least (``shaft_level_percentile`` of the darkness over the region):
    ~0.95 for black hair, ~0.5-0.6 for blond. NaN when nothing was analysed."""
    openings_px: np.ndarray | None = None
    """Clipped hair counted at its follicle openings: ``(K, 2)`` centres (x, y) of the
    openings found. None: the hairs are counted from the detections (``multiplicity``)."""
    opening_hairs: np.ndarray | None = None
    """``(K,)`` hairs expected in each opening found, from its size (fractional)."""
    opening_share: float = 1.0
    """Share of the count taken from the openings (``HairRules.opening_count_share``), the
    rest from the detections' multiplicities."""

    @property
    def count(self) -> int:
        """Hairs counted: at the openings found (or the detections' multiplicities) plus the
        expected hairs whose emergence points are hidden."""
        return int(round(float(self.counted_weights()[1].sum()) + self.hidden_count))

    def counted_weights(self) -> tuple[np.ndarray, np.ndarray]:
        """Where the counted hairs emerge and how many at each: the detections' roots and
        multiplicities and, when the image was counted at its openings, the openings and
        their expected hairs, weighted by ``opening_share``."""
        roots, hairs = self.roots_px, self.multiplicity.astype(float)
        if self.opening_hairs is None or self.openings_px is None:
            return roots, hairs
        share = self.opening_share
        return (np.vstack([self.openings_px, roots]),
                np.concatenate([share * self.opening_hairs, (1.0 - share) * hairs]))

    @property
    def seen(self) -> np.ndarray:
        """``(N,)`` hairs of each detection seen in the image (see ``seen_multiplicity``)."""
        return self.multiplicity if self.seen_multiplicity is None else self.seen_multiplicity

    def in_region(self, region: np.ndarray) -> np.ndarray:
        """Bool per detection: does its emergence point lie in a region mask?"""
        return points_in(self.roots_px, region)


def points_in(points: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Bool per ``(x, y)`` point: does its nearest pixel lie in the mask (False outside it)?"""
    h, w = mask.shape
    p = np.round(points).astype(int).reshape(-1, 2)
    inside = (p[:, 0] >= 0) & (p[:, 0] < w) & (p[:, 1] >= 0) & (p[:, 1] < h)
    out = np.zeros(len(p), bool)
    out[inside] = mask[p[inside, 1], p[inside, 0]]
    return out


# ----------------------------------------------------------------------------- pixels

def _odd(x: float) -> int:
    return max(3, int(round(x)) | 1)


@dataclass(frozen=True)
class _Frame:
    """Working copy of the image: reduced resolution, skin-relative channels."""

    ratio: np.ndarray
    """``(h, w, 3)`` linear RGB over the skin background."""
    dark: np.ndarray
    """``(h, w)`` darkness ``1 - max_c ratio_c``."""
    region: np.ndarray
    width: float
    """Expected terminal width (px, working resolution)."""
    scale: float
    """Working / input pixel size ratio (<= 1)."""
    light: np.ndarray | None = None
    """``(h, w)`` lightness over the skin ``min(G, B) / skin - 1`` (white hair), >= 0."""
    level: float = 0.9
    """Darkness of the image's shafts (``shaft_level_percentile`` of ``dark``)."""


def skin_background(linear: np.ndarray, width_px: float, red_margin: float | None = None) -> np.ndarray:
    """Per-channel skin level under and between the hairs.

    Skin is the brightest surface of a close-up: on a reduced copy (shafts ~2.5 px wide),
    pixels within 25 % of the local maximum (a grey dilation over ~8 shaft widths) are
    skin; the background is their normalised convolution (Knutsson H., Westin C.-F.,
    "Normalized and differential convolution", CVPR 1993) at ~3 shaft widths, with a
    wider one filling areas where hair leaves no skin in reach.

    With ``red_margin`` (long hair), only pixels whose log(R/G) is within that margin of
    the image's reddest tenth may be skin: white and grey shafts lying over much of the
    skin are brighter than it, but not as red, and would otherwise be taken for it.
    """
    h, w = linear.shape[:2]
    f = max(1.0, width_px / 2.5)
    sw, sh = max(8, int(round(w / f))), max(8, int(round(h / f)))
    small = cv2.resize(linear, (sw, sh), interpolation=cv2.INTER_AREA)
    y = small @ _LUMA
    if red_margin is not None:
        # White and grey shafts are brighter than the skin but not as red: only pixels
        # nearly as red (log R/G) as the image's reddest tenth may be skin.
        red = np.log(np.maximum(small[..., 0], 1e-4) / np.maximum(small[..., 1], 1e-4))
        y = np.where(red >= np.percentile(red, 90) - red_margin, y, 0.0).astype(np.float32)
    k = _odd(8 * width_px / f)
    top = cv2.dilate(y, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    skin = ((y > 0.75 * top) & (y > 0)).astype(np.float32)
    sigma = 3 * width_px / f
    near = cv2.GaussianBlur(skin, (0, 0), sigma)
    wide = cv2.GaussianBlur(skin, (0, 0), 4 * sigma)
    values = small * skin[..., None]
    b_near = cv2.GaussianBlur(values, (0, 0), sigma) / np.maximum(near, 1e-6)[..., None]
    b_wide = cv2.GaussianBlur(values, (0, 0), 4 * sigma) / np.maximum(wide, 1e-6)[..., None]
    a = np.clip(near / 0.2, 0, 1)[..., None]
    level = a * b_near + (1 - a) * b_wide
    if not np.isfinite(level).all() or wide.max() <= 1e-6:
        level = np.broadcast_to(np.percentile(small.reshape(-1, 3), 95, axis=0), small.shape).astype(np.float32)
    return cv2.resize(level.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)


def _frame(linear: np.ndarray, region: np.ndarray, width: float, target_width: float,
           rules: HairRules | None = None, red_margin: float | None = None) -> _Frame:
    """Working copy at a resolution where a terminal shaft is about ``target_width`` px."""
    scale = min(1.0, target_width / width)
    if scale > 0.85:
        scale = 1.0
    h, w = linear.shape[:2]
    if scale < 1.0:
        size = (max(8, int(round(w * scale))), max(8, int(round(h * scale))))
        linear = cv2.resize(linear, size, interpolation=cv2.INTER_AREA)
        region = cv2.resize(region.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST).astype(bool)
        scale = size[0] / w
    width = width * scale
    background = skin_background(linear, width, red_margin)
    ratio = linear / np.maximum(background, 1e-4)
    dark = np.clip(1.0 - ratio.max(axis=2), 0.0, 1.0)
    rules = rules or HairRules()
    light = np.clip(np.minimum(ratio[..., 1], ratio[..., 2]) - 1.0, 0.0, 1.0).astype(np.float32)
    # The shafts' own darkness sets the core threshold: hair of every shade from black to
    # blond covers a few % of a clipped close-up, so a high percentile lies on the shafts.
    level = float(np.percentile(dark[region], rules.shaft_level_percentile)) if region.any() else 1.0
    return _Frame(ratio, dark, region, width, scale, light, level)


def _core_threshold(frame: _Frame, rules: HairRules) -> float:
    """Darkness threshold of the shaft core: a share of the image's shaft darkness (light
    hair differs less from the skin), at most ``hair_darkness`` and at least
    ``min_hair_darkness``."""
    return float(np.clip(rules.relative_darkness * frame.level, rules.min_hair_darkness, rules.hair_darkness))


def _shaft_core(frame: _Frame, rules: HairRules) -> np.ndarray:
    """Pixels inside terminal shafts: darker than ``hair_darkness``, with a shaft's lit axis
    bridged (its sheen can be lighter than the threshold, above all on darker skin: a
    closing across ~0.4 shaft width) and specks removed (an opening)."""
    core = frame.dark > _core_threshold(frame, rules)
    if frame.light is not None:
        core |= frame.light > rules.white_lightness  # white hair: lighter than the skin
    core = core.astype(np.uint8)
    k = _odd(0.4 * frame.width)
    core = cv2.morphologyEx(core, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    core = cv2.morphologyEx(core, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3)))
    return core.astype(bool) & frame.region


def _measure_width(frame: _Frame, rules: HairRules) -> float:
    """Typical terminal shaft width: darkness integrated across the core shafts over their
    peak, at skeleton points (full width of the darkness profile, robust to blur)."""
    core = _shaft_core(frame, rules)
    if core.sum() < 50:
        return frame.width
    distance = ndimage.distance_transform_edt(core)
    skel = skeletonize(core)
    d = 2.0 * distance[skel]
    if d.size < 20:
        return frame.width
    return float(np.median(d))


# ----------------------------------------------------------------------------- bands

def _band_profiles(image: np.ndarray, root: np.ndarray, angles: np.ndarray, offsets: np.ndarray,
                   length: int, half: float, samples: int, reduce: str = "mean") -> np.ndarray:
    """Mean of ``image`` across straight bands leaving ``root``: ``(angles, offsets, length)``.

    One ``cv2.remap`` samples every band at once (bilinear); a band at angle ``a`` and
    lateral offset ``o`` covers ``root + t d(a) + (o + s) n(a)``, ``|s| <= half``.
    """
    t = np.arange(length, dtype=np.float32)
    s = np.linspace(-half, half, samples, dtype=np.float32)
    ca, sa = np.cos(angles).astype(np.float32), np.sin(angles).astype(np.float32)
    lat = offsets.astype(np.float32)[None, :, None] + s[None, None, :]
    x = root[0] + t * ca[:, None, None, None] - (lat * sa[:, None, None])[..., None]
    y = root[1] + t * sa[:, None, None, None] + (lat * ca[:, None, None])[..., None]
    x = x.astype(np.float32)
    y = y.astype(np.float32)
    out = cv2.remap(image, x.reshape(-1, length), y.reshape(-1, length), cv2.INTER_LINEAR,
                    borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    out = out.reshape(x.shape)
    return out.max(axis=2) if reduce == "max" else out.mean(axis=2)


def _covered_length(cover: np.ndarray, start: int, threshold: float, gap: int) -> np.ndarray:
    """Length along each band until it leaves the hair: the first run of more than ``gap``
    samples below ``threshold`` after ``start`` (a 1-D erosion finds the runs)."""
    below = cover < threshold
    below[..., :start] = False
    run = ndimage.minimum_filter1d(below.astype(np.uint8), gap + 1, axis=-1, origin=-((gap + 1) // 2),
                                   mode="constant", cval=1).astype(bool)
    return np.where(run.any(-1), np.argmax(run, -1), cover.shape[-1])


@dataclass
class _Shaft:
    root: np.ndarray
    end: np.ndarray
    width: float
    multiplicity: int = 1
    unit: int = -1
    fine: bool = False
    seen: int = -1
    """Hairs seen in the image (-1: all of ``multiplicity``); the rest come from the prior."""


def _fan(core_f: np.ndarray, all_axes: np.ndarray, axes: np.ndarray, root: np.ndarray, axis: float,
         width: float, max_length: int, rules: HairRules,
         branches: tuple[np.ndarray, np.ndarray] | None = None) -> list[_Shaft]:
    """Shafts leaving one root, by matching pursuit (Mallat S., Zhang Z., IEEE Trans. Signal
    Processing 41(12) 1993) over a dictionary of straight bands from the root.

    The evidence is the shafts' visible axes (``axes``: 1 on a shaft's lit centre line not
    yet explained): a cylinder is lit brightest along its axis and darkest at its rims, so
    the hairs of a unit lying over each other still show one axis line per visible shaft.
    A band runs from the root as long as it stays in hair (``core_f``), and the band whose
    centre zone holds the longest stretch of unexplained axis is taken, until none holds
    ``min_new_widths`` shaft widths. Explained axis pixels are cleared in place.
    """
    angles = axis + np.deg2rad(np.arange(-rules.max_angle_deg, rules.max_angle_deg + 0.1, rules.angle_step_deg))
    offsets = np.linspace(-0.45, 0.45, 5).astype(np.float32) * width
    cover = _band_profiles(core_f, root, angles, offsets, max_length, 0.3 * width, 5)
    start = int(round(0.6 * width))
    lengths = _covered_length(cover, start, rules.band_cover, max(2, int(0.2 * width)))
    # ... and as long as its own axis line goes on: a band must not run on into the shaft
    # of another unit lying in line or beside (openings in a row along the combing direction)
    ridge = _band_profiles(all_axes, root, angles, offsets, max_length, 0.2 * width, 3, reduce="max")
    ridge_length = _covered_length(ridge, start + int(width), 0.5, max(2, int(0.6 * width)))
    lengths = np.minimum(lengths, ridge_length + int(0.3 * width))
    # A root is where a shaft begins: its axis must not continue backwards (a hair passing
    # over another unit's opening is not rooted there).
    back = _band_profiles(all_axes, root, angles + np.pi, -offsets, max(3, int(1.4 * width)), 0.15 * width, 3,
                          reduce="max")
    lengths = np.where(back[..., int(0.5 * width):].mean(-1) < 0.5, lengths, 0)
    shafts = []
    thickness = max(1, int(round(rules.explained_widths * width)))
    for _ in range(int(rules.max_hairs_per_unit) + 2):
        new = _band_profiles(axes, root, angles, offsets, max_length, 0.2 * width, 3, reduce="max")
        csum = np.concatenate([np.zeros(new.shape[:-1] + (1,), np.float32), np.cumsum(new, -1)], -1)
        gain = np.take_along_axis(csum, lengths[..., None], -1)[..., 0]
        i = np.unravel_index(int(np.argmax(gain)), gain.shape)
        a, o, n = angles[i[0]], offsets[i[1]], lengths[i]
        d = np.array([np.cos(a), np.sin(a)])
        p0 = root + o * np.array([-d[1], d[0]])
        p1 = p0 + n * d
        # A band leaving the frame may show a short stub only.
        needed = rules.min_new_widths * width
        if _at_border(p1, core_f.shape, 1.0):
            needed = min(needed, max(0.5 * width, 0.7 * n))
        if gain[i] < needed or n < 1:
            break
        if branches is not None:
            _explain_branches(axes, branches, p0, p1, thickness)
        cv2.line(axes, tuple(np.round(p0 * 16).astype(int)), tuple(np.round(p1 * 16).astype(int)), 0.0,
                 thickness, cv2.LINE_8, 4)
        shafts.append(_Shaft(p0, p1, width))
    return shafts


def _explain_branches(axes: np.ndarray, branches: tuple[np.ndarray, np.ndarray], p0: np.ndarray, p1: np.ndarray,
                      thickness: int) -> None:
    """Clear the axis branches lying mostly in a chosen shaft's zone (in place)."""
    branch_id, size = branches
    h, w = axes.shape
    pad = thickness + 2
    x0 = max(0, int(min(p0[0], p1[0])) - pad)
    y0 = max(0, int(min(p0[1], p1[1])) - pad)
    x1 = min(w, int(max(p0[0], p1[0])) + pad + 1)
    y1 = min(h, int(max(p0[1], p1[1])) + pad + 1)
    if x1 <= x0 or y1 <= y0:
        return
    zone = np.zeros((y1 - y0, x1 - x0), np.uint8)
    off = np.array([x0, y0])
    cv2.line(zone, tuple(np.round((p0 - off) * 16).astype(int)), tuple(np.round((p1 - off) * 16).astype(int)), 1,
             thickness, cv2.LINE_8, 4)
    ids = branch_id[y0:y1, x0:x1][zone > 0]
    ids = ids[ids > 0]
    if not len(ids):
        return
    inside = np.bincount(ids, minlength=len(size))
    mostly = np.flatnonzero(inside >= 0.7 * size)
    mostly = mostly[mostly > 0]
    if len(mostly):
        # the branches are local to the unit: clear them within a window around it
        r = int(np.hypot(*(p1 - p0))) + 4 * pad
        cx0, cy0 = max(0, int(p0[0]) - r), max(0, int(p0[1]) - r)
        cx1, cy1 = min(w, int(p0[0]) + r + 1), min(h, int(p0[1]) + r + 1)
        local = branch_id[cy0:cy1, cx0:cx1]
        axes[cy0:cy1, cx0:cx1][np.isin(local, mostly)] = 0.0


def _ridge(channel: np.ndarray, sigma: float) -> np.ndarray:
    """Bright-ridge strength: minus the smaller Hessian eigenvalue, scale-normalised
    (``sigma**2``), zero where the profile is not a ridge (Sato Y. et al., "3D multi-scale
    line filter", Medical Image Analysis 2(2) 1998; Lindeberg T., "Edge and ridge detection
    with automatic scale selection", IJCV 30(2) 1998). Gaussian derivatives with OpenCV: a
    tenth of the time of ``skimage.filters.sato`` on a 2-megapixel image."""
    g = cv2.GaussianBlur(channel, (0, 0), sigma)
    dxx = cv2.Sobel(g, cv2.CV_32F, 2, 0, ksize=3)
    dyy = cv2.Sobel(g, cv2.CV_32F, 0, 2, ksize=3)
    dxy = cv2.Sobel(g, cv2.CV_32F, 1, 1, ksize=3)
    smaller = 0.5 * (dxx + dyy) - np.sqrt(0.25 * (dxx - dyy) ** 2 + dxy * dxy)
    return np.maximum(-smaller, 0.0) * sigma * sigma


def _shaft_axes(frame: _Frame, core: np.ndarray, rules: HairRules) -> np.ndarray:
    """Lit centre lines of the terminal shafts: bright ridges of log luminance inside the
    shafts (log: the ridge's strength does not depend on how dark the hair is), thinned
    to one pixel (Zhang & Suen 1984) and widened to three."""
    y = (frame.ratio @ _LUMA).astype(np.float32)
    response = _ridge(np.log(np.maximum(y, 1e-3)), max(0.8, rules.axis_sigma_widths * frame.width))
    inner = cv2.erode(core.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    threshold = rules.axis_ridge
    if inner.any():
        strength = float(np.percentile(response[inner], rules.axis_ridge_percentile))
        threshold = float(np.clip(rules.axis_ridge_share * strength, rules.min_axis_ridge, rules.axis_ridge))
    lines = skeletonize((response > threshold) & inner)
    return cv2.dilate(lines.astype(np.float32), np.ones((3, 3), np.uint8)), lines


def _profile_widths(dark: np.ndarray, lum: np.ndarray | None, p0: np.ndarray, p1: np.ndarray, width: float,
                    samples: int = 15, level: float = 0.6, search: float = 0.6) -> np.ndarray:
    """Shaft diameter at points along a segment, from darkness profiles across it.

    The shaft's axis is its lit centre line (the luminance maximum near the segment, or for
    a fine shaft without ``lum`` the darkness peak); its edges are where the darkness falls
    below ``level`` of its peak over the skin (above the cast shadow on one side), the
    crossings interpolated linearly. The diameter is twice the nearer edge's distance from
    the axis: a hair lying beside it or under it widens the band on one side only.
    """
    d = p1 - p0
    length = float(np.hypot(*d))
    if length < 1:
        return np.full(samples, np.nan)
    d = d / length
    n = np.array([-d[1], d[0]])
    t = np.linspace(0.2, 0.9, samples) * length
    step = 0.5
    s = np.arange(-2.0 * width, 2.0 * width + 0.01, step)
    pts = (p0 + t[:, None, None] * d + s[None, :, None] * n).astype(np.float32)
    prof = cv2.remap(dark, pts[..., 0], pts[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                     borderValue=np.nan)
    c = len(s) // 2
    reach = max(1, int(search * width / step))
    window = slice(c - reach, c + reach + 1)
    outer = int(1.5 * width / step)
    with warnings.catch_warnings():  # profiles running out of the frame are all-NaN: invalid below
        warnings.simplefilter("ignore", RuntimeWarning)
        peak = np.nanmax(prof[:, window], axis=1)
        base = np.minimum(np.nanmin(prof[:, :c - outer + 1], axis=1), np.nanmin(prof[:, c + outer:], axis=1))
    half = base + level * (peak - base)
    light = None if lum is None else cv2.remap(lum, pts[..., 0], pts[..., 1], cv2.INTER_LINEAR,
                                               borderMode=cv2.BORDER_REPLICATE)
    n_s = len(s)
    index = np.arange(n_s)
    valid = np.isfinite(prof).all(axis=1) & (peak - base >= 0.04)
    prof = np.nan_to_num(prof, nan=0.0)
    # The band around the centre: from the peak outwards to where the darkness drops below
    # the level (a lit axis may dip below it inside the shaft: dips narrower than a third of
    # a width are bridged; a fine shaft has no lit axis, and its shadow lies apart).
    k = np.argmax(np.where(np.abs(index - c) <= reach, prof, -1.0), axis=1)
    above = prof >= half[:, None]
    if light is not None:
        gap = max(1, int(width / 3 / step))
        above |= ndimage.binary_closing(above, np.ones((1, 2 * gap + 1), bool))
    last_below = np.maximum.accumulate(np.where(~above, index, -1), axis=1)
    next_below = np.minimum.accumulate(np.where(~above, index, n_s)[:, ::-1], axis=1)[:, ::-1]
    rows = np.arange(samples)
    lo = last_below[rows, k] + 1
    hi = next_below[rows, k] - 1
    valid &= (lo > 0) & (hi < n_s - 1) & above[rows, k]
    lo_c, hi_c = np.clip(lo, 1, n_s - 1), np.clip(hi, 0, n_s - 2)
    a_out, a_in = prof[rows, lo_c - 1], prof[rows, lo_c]
    b_in, b_out = prof[rows, hi_c], prof[rows, hi_c + 1]
    xl = lo_c - 1 + np.clip((half - a_out) / np.maximum(a_in - a_out, 1e-6), 0.0, 1.0)
    xr = hi_c + np.clip((b_in - half) / np.maximum(b_in - b_out, 1e-6), 0.0, 1.0)
    out = (xr - xl) * step
    if light is not None:
        # axis: the lit centre line (luminance maximum) inside the band, away from its edges
        inside = (index[None, :] > xl[:, None] + 1.5 / step) & (index[None, :] < xr[:, None] - 1.5 / step)
        axis = np.argmax(np.where(inside, light, -np.inf), axis=1)
        own = 2.0 * np.minimum(axis - xl, xr - axis) * step
        out = np.where(inside.any(axis=1), own, out)
    out = np.where(valid, out, np.nan)
    return out


def _thin_shafts(frame: _Frame, core: np.ndarray, rules: HairRules) -> list[tuple[np.ndarray, np.ndarray]]:
    """Fine (vellus) shafts: thin lines of a light, yellowish hair on the skin.

    Vellus hairs are hypopigmented: against pink skin they darken blue far more than green
    (a yellowness, green over blue relative to the skin), unlike skin furrows and cast
    shadows (neutral), capillaries (red: darker in green than in blue) and dark terminal
    shafts (no yellowness). Thin ridges of the yellowness (a Hessian line filter at a tenth
    of a terminal width) are traced as skeleton pieces (Zhang & Suen 1984) and kept when
    long and straight enough.
    Returns each line's two ends (x, y).
    """
    r = frame.ratio
    channel = (r[..., 1] - r[..., 2]).astype(np.float32)
    w = frame.width
    response = _ridge(channel, max(0.8, rules.vellus_sigma_widths * w))
    k = _odd(0.3 * w)
    near_terminal = cv2.dilate(core.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    response[(near_terminal > 0) | ~frame.region] = 0.0
    lines = apply_hysteresis_threshold(response, rules.vellus_low, rules.vellus_high)
    skel = skeletonize(lines)
    labels, n = ndimage.label(skel, _EIGHT)
    out = []
    for label, window in enumerate(ndimage.find_objects(labels), start=1):
        if window is None:
            continue
        rr, cc = np.nonzero(labels[window] == label)
        if len(rr) < rules.min_vellus_widths * w:
            continue
        pts = np.column_stack([cc + window[1].start, rr + window[0].start]).astype(float)
        centre = pts.mean(0)
        _, vecs = np.linalg.eigh(np.cov((pts - centre).T))
        axis = vecs[:, 1]
        p = (pts - centre) @ axis
        extent = p.max() - p.min()
        across = np.abs((pts - centre) @ vecs[:, 0])
        if extent < rules.min_vellus_widths * w or np.percentile(across, 90) > 0.3 * w:
            continue  # short, or curved/branched: furrow network
        out.append((centre + p.min() * axis, centre + p.max() * axis))
    return out


# ----------------------------------------------------------------------------- clipped

def _opening_map(frame: _Frame, core: np.ndarray) -> np.ndarray:
    """Brownness of the skin around each point: follicle openings are brown discs (red over
    blue higher than the skin's), while cast shadows and furrows are neutral. A normalised
    convolution over pixels off the shafts (which cover most of an opening)."""
    off = (~cv2.dilate(core.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)).astype(np.float32)
    brown = np.clip(frame.ratio[..., 0] - frame.ratio[..., 2], 0.0, 0.3) * (frame.dark > 0.2)
    sigma = 0.6 * frame.width
    num = cv2.GaussianBlur(brown * off, (0, 0), sigma)
    den = cv2.GaussianBlur(off, (0, 0), sigma)
    return np.where(den > 0.08, num / np.maximum(den, 1e-3), 0.0).astype(np.float32)


def _openings(frame: _Frame, rules: HairRules) -> tuple[np.ndarray, np.ndarray]:
    """Follicle openings: centres ``(K, 2)`` (x, y) and radii ``(K,)`` in working pixels.

    An opening is a brown disc on the skin, part of it under the hairs leaving it: pixels
    of an opening's darkness and hue (a narrow, hair-colour-independent range relative to
    the skin), opened with a disc of ``opening_core_widths`` (the rims of brown shafts pass
    the same tests but are thin), and each piece's skin-side outline fitted with a circle
    (Kasa I., "A circle fitting procedure and its error analysis", IEEE Trans. Instrum.
    Meas. 25(1) 1976): the part under the hairs is hidden, so the outline's arc facing the
    skin gives the centre and the radius. Pieces of one opening split by a hair lying over
    it (circles overlapping by ``opening_merge_widths``) are fitted together.
    """
    r = frame.ratio
    w = frame.width
    dark = frame.dark
    top = np.maximum(r.max(axis=2), 1e-4)
    blue_green = r[..., 2] / np.maximum(r[..., 1], 1e-4)
    red_blue = (r[..., 0] - r[..., 2]) / top
    mask = ((dark > rules.opening_darkness_min) & (dark < rules.opening_darkness_max)
            & (blue_green > rules.opening_blue_green_min) & (blue_green < rules.opening_blue_green_max)
            & (red_blue > rules.opening_red_blue_min) & (red_blue < rules.opening_red_blue_max) & frame.region)
    k = _odd(2 * rules.opening_core_widths * w)
    mask = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    labels, _ = ndimage.label(mask)
    h, wd = dark.shape
    pieces = []  # (skin-facing outline, middle, area) per piece
    for label, window in enumerate(ndimage.find_objects(labels), start=1):
        if window is None:
            continue
        piece = labels[window] == label
        area = int(piece.sum())
        if area < rules.opening_min_area_widths2 * w * w:
            continue
        offset = np.array([window[1].start, window[0].start], float)
        yy, xx = np.nonzero(piece)
        middle = np.array([xx.mean(), yy.mean()]) + offset
        ey, ex = np.nonzero(piece & ~cv2.erode(piece.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool))
        outline = np.column_stack([ex, ey]).astype(float) + offset
        # the outline facing skin (just outside it is no darker than a cast shadow's edge)
        out = outline - middle
        out /= np.linalg.norm(out, axis=1, keepdims=True) + 1e-9
        q = np.round(outline + 1.5 * out).astype(int)
        q[:, 0] = np.clip(q[:, 0], 0, wd - 1)
        q[:, 1] = np.clip(q[:, 1], 0, h - 1)
        facing = dark[q[:, 1], q[:, 0]] < rules.opening_darkness_min
        pieces.append((outline[facing] if facing.sum() >= 6 else outline, middle, area))

    def fit(arc: np.ndarray, middle: np.ndarray, area: float) -> tuple[np.ndarray, float]:
        a = np.column_stack([2 * arc, np.ones(len(arc))])
        solution = np.linalg.lstsq(a, (arc ** 2).sum(axis=1), rcond=None)[0]
        centre = solution[:2]
        radius = float(np.sqrt(max(solution[2] + centre @ centre, 0.0)))
        if not np.isfinite(radius) or radius > 3 * w or np.linalg.norm(centre - middle) > 2 * w:
            return middle, float(np.sqrt(area / np.pi))
        return centre, radius

    circles = [fit(*p) for p in pieces]
    group = np.arange(len(pieces))
    if len(pieces) > 1:
        from scipy.sparse import coo_matrix
        from scipy.sparse.csgraph import connected_components
        from scipy.spatial import cKDTree
        centres = np.array([c for c, _ in circles])
        radii = np.array([q for _, q in circles])
        near = cKDTree(centres).query_pairs(3 * w, output_type="ndarray")
        gap = np.linalg.norm(centres[near[:, 0]] - centres[near[:, 1]], axis=1) if len(near) else np.zeros(0)
        join = near[gap < np.maximum(radii[near[:, 0]], radii[near[:, 1]]) + rules.opening_merge_widths * w] \
            if len(near) else near
        graph = coo_matrix((np.ones(len(join)), (join[:, 0], join[:, 1])), shape=(len(pieces),) * 2)
        group = connected_components(graph, directed=False)[1]
    centres, radii = [], []
    for g in np.unique(group):
        members = np.flatnonzero(group == g)
        if len(members) == 1:
            centre, radius = circles[members[0]]
        else:
            area = sum(pieces[m][2] for m in members)
            middle = sum(pieces[m][1] * pieces[m][2] for m in members) / area
            centre, radius = fit(np.concatenate([pieces[m][0] for m in members]), middle, area)
        x, y = np.round(centre).astype(int)
        if not (0 <= x < wd and 0 <= y < h and frame.region[y, x]):
            continue  # the hairs of an opening outside the analysed area are not counted
        centres.append(centre)
        radii.append(radius)
    return np.array(centres, float).reshape(-1, 2), np.array(radii, float)


def _opening_hairs(radius_widths: np.ndarray, prior: np.ndarray, rules: HairRules,
                   seen: np.ndarray | None = None) -> np.ndarray:
    """Expected hairs of units with openings of these radii (terminal widths): Bayes with
    the unit-size prior, a normal spread of the radius per number of hairs and, given the
    shafts seen leaving each opening (0: none found), their binomial visibility
    (:func:`_shafts_seen_likelihood`)."""
    mu = np.array([rules.opening_radius_widths_1, rules.opening_radius_widths_2, rules.opening_radius_widths_3,
                   rules.opening_radius_widths_4])[:len(prior)]
    z = (radius_widths[:, None] - mu[None, :]) / rules.opening_radius_sd_widths
    posterior = np.exp(-0.5 * z * z) * prior[None, :] + 1e-300
    if seen is not None and rules.opening_shaft_weight > 0:
        v = seen[:, None]
        like = _shafts_seen_likelihood(seen, len(prior), rules.unit_mate_seen, rules.false_extra)
        # Shafts the model cannot explain (more than a unit of that size shows: a neighbour's
        # hairs passing the opening) are an outlier of small chance, not an impossibility:
        # without it a tiny opening with many shafts would count fewer hairs than with fewer.
        outlier = rules.opening_shaft_outlier / rules.max_hairs_per_unit
        like = np.where(v > 0, (1 - rules.opening_shaft_outlier) * like + outlier, 1.0)
        posterior = posterior * like ** rules.opening_shaft_weight
    posterior /= posterior.sum(axis=1, keepdims=True)
    return posterior @ np.arange(1, len(prior) + 1, dtype=float)


def _count_at_openings(frame: _Frame, shafts: list[_Shaft], mm_per_px: float | None,
                       rules: HairRules) -> tuple[np.ndarray, np.ndarray] | None:
    """Hairs counted by follicle opening: each opening found holds the number of hairs
    expected from its size and the shafts seen leaving it (:func:`_opening_hairs`, with
    the unit-size prior at the image's density).

    Returns the openings' centres ``(K, 2)`` (working pixels) and expected hairs ``(K,)``;
    None when fewer than ``min_opening_share`` of the shafts found belong to a unit with
    an opening at a root (or, for a lone shaft, at its other end: light hair shows no
    opening cue to root it), i.e. the image does not show openings as calibrated."""
    w = frame.width
    centres, radii = _openings(frame, rules)
    units: dict[int, list[_Shaft]] = {}
    for sh in shafts:
        units.setdefault(sh.unit, []).append(sh)
    if not len(centres) or not units:
        return None
    from scipy.spatial import cKDTree
    tree = cKDTree(centres)

    def near(points: np.ndarray) -> int:
        """The opening at one of these points, or -1."""
        d, j = tree.query(points)
        ok = d <= radii[j] + rules.opening_reach_widths * w
        return int(j[np.argmax(ok)]) if ok.any() else -1

    seen = np.zeros(len(centres))
    at = 0
    for members in units.values():
        j = near(np.array([x.root for x in members]))
        if j < 0 and len(members) == 1:
            j = near(members[0].end[None, :])
        if j >= 0:
            at += len(members)
            seen[j] += sum(max(x.seen, 1) for x in members)  # shafts, and cut ends stacked on them
    if at < rules.min_opening_share * len(shafts):
        return None
    area_cm2 = _region_cm2(frame, mm_per_px)
    density = None
    for _ in range(8):  # density and unit mix depend on each other
        # Beyond three, shafts at one opening are no more evidence than three (a neighbour's
        # hairs passing it): the likelihood stays monotone in the shafts seen.
        expected = _opening_hairs(radii / w, _unit_prior(density, rules), rules, np.minimum(seen, 3))
        if not area_cm2:
            break
        density = expected.sum() / rules.opening_recall / area_cm2
    return centres, expected


def _region_cm2(frame: _Frame, mm_per_px: float | None) -> float | None:
    """The analysed region's area on the scalp (cm2), None without a scale."""
    if not mm_per_px:
        return None
    return float(frame.region.sum()) * (mm_per_px / frame.scale) ** 2 / 100.0


def _extremities(mask: np.ndarray, offset: np.ndarray, width: float):
    rr, cc = np.nonzero(mask)
    pts = np.column_stack([cc, rr]).astype(float) + offset
    centre = pts.mean(0)
    if len(pts) < 3:
        return centre, np.array([1.0, 0.0]), pts[:1], 0.0
    _, vecs = np.linalg.eigh(np.cov((pts - centre).T))
    axis = vecs[:, 1]
    p = (pts - centre) @ axis
    ends = np.array([pts[p < p.min() + 0.5 * width].mean(0), pts[p > p.max() - 0.5 * width].mean(0)])
    return centre, axis, ends, float(p.max() - p.min())


def _count_clipped(frame: _Frame, mm_per_px: float | None, rules: HairRules
                   ) -> tuple[list[_Shaft], np.ndarray, tuple[np.ndarray, np.ndarray] | None]:
    """Clipped hair: the shafts found (roots, cut ends, widths, units, multiplicities), the
    shaft-core mask, and the follicle openings with their expected hairs (None: not
    counted at openings)."""
    w = frame.width
    core = _shaft_core(frame, rules)
    opening = _opening_map(frame, core)
    peaks = peak_local_max(opening, min_distance=max(1, int(w)), threshold_abs=rules.opening_brownness)
    peak_xy = peaks[:, ::-1].astype(float)
    labels, _ = ndimage.label(core, _EIGHT)
    near_label = ndimage.grey_dilation(labels, size=(_odd(1.5 * w),) * 2)
    peak_label = near_label[peaks[:, 0], peaks[:, 1]]

    comps = []
    for label, window in enumerate(ndimage.find_objects(labels), start=1):
        if window is None:
            continue
        m = labels[window] == label
        # A shaft cut by the frame's edge may show only a stub.
        at_edge = (window[0].start == 0 or window[1].start == 0 or window[0].stop == core.shape[0]
                   or window[1].stop == core.shape[1])
        if m.sum() < (0.5 if at_edge else 2.0) * w * w:
            continue
        offset = np.array([window[1].start, window[0].start], float)
        centre, axis, ends, extent = _extremities(m, offset, w)
        if extent < (1.0 if at_edge else 2.5) * w:
            continue
        cue = []
        for e in ends:
            x, y = np.clip(np.round(e).astype(int), 0, [core.shape[1] - 1, core.shape[0] - 1])
            r = int(w)
            cue.append(float(opening[max(0, y - r):y + r + 1, max(0, x - r):x + r + 1].max()))
        comps.append(dict(label=label, window=window, mask=m, centre=centre, axis=axis, ends=ends,
                          extent=extent, cue=cue))
    # Flow direction: root -> cut end of components with a clear opening at one end.
    vecs = np.zeros((len(comps), 2))
    conf = np.zeros(len(comps))
    for k, c in enumerate(comps):
        a, b = c["cue"]
        root_first = a >= b
        v = (c["ends"][1] - c["ends"][0]) * (1 if root_first else -1)
        vecs[k] = v / (np.linalg.norm(v) + 1e-9)
        conf[k] = abs(a - b)
    centres = np.array([c["centre"] for c in comps]).reshape(-1, 2)

    core_f = core.astype(np.float32)
    all_axes, axis_lines = _shaft_axes(frame, core, rules)
    residual = all_axes.copy()
    # Axis lines split into branches at their junctions (:mod:`pipelines.skeleton`): a chosen
    # shaft explains the whole of each branch it mostly covers (a curved hair's axis leaves
    # any straight band).
    graph = skeleton_graph(axis_lines)
    branch_id = np.zeros(axis_lines.shape, np.int32)
    for b in graph.branches:
        branch_id[b.pixels[:, 0], b.pixels[:, 1]] = b.index + 1
    branch_id = ndimage.grey_dilation(branch_id, size=(3, 3))
    branch_size = np.bincount(branch_id.ravel())
    shafts: list[_Shaft] = []
    unit_id = 0
    for k, c in enumerate(comps):
        dist = np.linalg.norm(centres - c["centre"], axis=1)
        g = np.exp(-0.5 * (dist / (40 * w)) ** 2) * np.minimum(conf, 0.05)
        g[k] = 0.0
        flow = (vecs * g[:, None]).sum(0)
        flow = flow / (np.linalg.norm(flow) + 1e-9)
        axis = c["axis"] if c["axis"] @ flow >= 0 else -c["axis"]
        # root candidates: openings on this component, downstream first; then the upstream end
        sel = np.flatnonzero(peak_label == c["label"])
        order = sel[np.argsort(-(peak_xy[sel] @ axis))]
        up_first = (c["ends"][1] - c["ends"][0]) @ axis > 0
        up_end = c["ends"][0] if up_first else c["ends"][1]
        # Roots: openings on this piece, downstream first; then its upstream end.
        candidates = [(peak_xy[i], True, axis) for i in order] + [(up_end, False, axis)]
        window = c["window"]
        for root, is_opening, direction in candidates:
            angle = float(np.arctan2(direction[1], direction[0]))
            root = np.asarray(root, float)
            if not is_opening and _at_border(root, core.shape, 0.7 * w):
                continue  # a shaft entering the frame: rooted outside
            # Cheap: the piece has no unexplained axis left (each axis pixel is ~3 px wide).
            if residual[window].sum() < 3.0 * rules.min_new_widths * w * 0.5:
                break
            got = _fan(core_f, all_axes, residual, root, angle, w, int(c["extent"] + 2 * w), rules,
                       (branch_id, branch_size))
            for sh in got:
                sh.unit = unit_id
            unit_id += len(got) > 0
            shafts += got
    for p0, p1 in _thin_shafts(frame, core, rules):
        # root: the end on an opening, else upstream in the local flow
        cues = [opening[min(int(round(p[1])), core.shape[0] - 1), min(int(round(p[0])), core.shape[1] - 1)]
                for p in (p0, p1)]
        dist = np.linalg.norm(centres - 0.5 * (p0 + p1), axis=1)
        g = np.exp(-0.5 * (dist / (40 * w)) ** 2) * np.minimum(conf, 0.05)
        flow = (vecs * g[:, None]).sum(0)
        score = 10.0 * (cues[0] - cues[1]) + float(flow @ (p1 - p0)) / (np.linalg.norm(flow) * np.linalg.norm(p1 - p0) + 1e-9)
        root, end = (p0, p1) if score >= 0 else (p1, p0)
        shafts.append(_Shaft(root, end, np.nan, fine=True))
    lum = np.log(np.maximum(frame.ratio @ _LUMA, 1e-3)).astype(np.float32)
    yellow = np.clip(frame.ratio[..., 1] - frame.ratio[..., 2], 0.0, None).astype(np.float32)
    for sh in shafts:
        # A shaft's own width is where it lies alone: the narrow end of the widths along it
        # (hairs of a unit overlap near the opening and part towards their cut ends).
        if sh.fine:
            # A fine hair is measured on its yellowness (light hair against pink skin): its
            # blurred cast shadow, as dark as the hair itself, is neutral.
            ws = _profile_widths(yellow, None, sh.root, sh.end, w, level=rules.width_level, search=0.25)
        else:
            ws = _profile_widths(frame.dark, lum, sh.root, sh.end, w, level=rules.width_level)
        sh.width = float(np.nanmedian(ws)) if np.isfinite(ws).any() else np.nan
    _group_units(shafts, w)
    _hidden_hairs(frame, core, shafts, mm_per_px, rules)
    return shafts, core, _count_at_openings(frame, shafts, mm_per_px, rules)


def _inner_ends(lum: np.ndarray, core: np.ndarray, shaft: _Shaft, width: float, rules: HairRules
                ) -> tuple[list[np.ndarray], float]:
    """Cut ends of hairs lying on this shaft's band, and how much wider than one shaft it is.

    Where the upper of two stacked hairs is cut, its blunt end crosses the band: the log
    luminance along the axis steps (hairs differ in tone and the end cap is shaded) while
    the band goes on. Returns those end points (x, y) and the band's median width over one
    shaft width (a lower hair shows as a sliver beside the upper one).
    """
    d = shaft.end - shaft.root
    length = float(np.hypot(*d))
    if length < 2 * width:
        return [], 0.0
    d = d / length
    n = np.array([-d[1], d[0]])
    t = np.arange(0.0, length + 0.5 * width, 1.0)
    s = np.arange(-1.5 * width, 1.5 * width + 0.01, 0.5)
    pts = (shaft.root + t[:, None, None] * d + s[None, :, None] * n).astype(np.float32)
    on = cv2.remap(core, pts[..., 0], pts[..., 1], cv2.INTER_LINEAR) >= 0.5
    c = len(s) // 2
    left = np.argmin(np.concatenate([on[:, :c + 1][:, ::-1], np.zeros((len(t), 1), bool)], 1), 1)
    right = np.argmin(np.concatenate([on[:, c:], np.zeros((len(t), 1), bool)], 1), 1)
    band = np.where(on[:, c], (left + right - 1) * 0.5, 0.0)
    mid = (t > 0.15 * length) & (t < 0.7 * length)
    union = float(np.median(band[mid])) / width if mid.any() else 0.0
    k = max(1, int(round(0.3 * width / 0.5)))
    axis = cv2.remap(lum, pts[:, c - k:c + k + 1, 0], pts[:, c - k:c + k + 1, 1], cv2.INTER_LINEAR).mean(1)
    step = np.abs(ndimage.gaussian_filter1d(axis, 1.0, order=1))
    inside = (t > 0.3 * length) & (t < length - 0.5 * width) & on[:, c]
    # the band must go on past the step
    beyond = ndimage.minimum_filter1d(on[:, c].astype(np.uint8), int(0.5 * width) + 1,
                                      origin=-(int(0.5 * width) // 2)).astype(bool)
    candidate = inside & beyond & (step > rules.end_step)
    peaks = [i for i in np.flatnonzero(candidate)
             if step[i] == step[max(0, i - int(0.5 * width)):i + int(0.5 * width) + 1].max()]
    return [shaft.root + t[i] * d for i in peaks], union


def _unit_prior(density_per_cm2: float | None, rules: HairRules) -> np.ndarray:
    """Share of units holding 1-4 hairs: healthy scalp at or above ``density_healthy``,
    thinning scalp (more single-hair units) at or below ``density_thinning``, linear in
    between (Rudnicka et al., *Atlas of Trichoscopy*, 2012). Unknown density: half way."""
    healthy = np.array([rules.healthy_units_1, rules.healthy_units_2, rules.healthy_units_3, rules.healthy_units_4])
    thinning = np.array([rules.thinning_units_1, rules.thinning_units_2, rules.thinning_units_3,
                         rules.thinning_units_4])
    if density_per_cm2 is None:
        t = 0.5
    else:
        t = float(np.clip((rules.density_healthy - density_per_cm2) / (rules.density_healthy - rules.density_thinning),
                          0.0, 1.0))
    prior = (1 - t) * healthy + t * thinning
    return prior / prior.sum()


def _shafts_seen_likelihood(seen: np.ndarray, largest: int, resolved: float, false_extra: float) -> np.ndarray:
    """``(len(seen), largest)`` chance that a unit of 1..``largest`` hairs shows ``seen``.

    A unit of ``n`` hairs shows ``1 + Binomial(n - 1, resolved)`` of them (each hair beyond
    the first is seen apart from the others with chance ``resolved``), plus one spurious
    shaft with chance ``false_extra`` (a curved hair taken as two, a neighbour's hair
    passing the opening).
    """
    from scipy.stats import binom
    sizes = np.arange(1, largest + 1)[None, :]
    v = np.asarray(seen)[:, None]
    return ((1 - false_extra) * binom.pmf(v - 1, sizes - 1, resolved)
            + false_extra * binom.pmf(v - 2, sizes - 1, resolved))


def _expected_hairs(seen: np.ndarray, prior: np.ndarray, resolved: float, false_extra: float) -> np.ndarray:
    """Expected hairs of units showing ``seen`` hairs, by Bayes with a unit-size prior and
    the visibility model of :func:`_shafts_seen_likelihood`."""
    likelihood = _shafts_seen_likelihood(seen, len(prior), resolved, false_extra) + 1e-12
    posterior = likelihood * prior[None, :]
    posterior /= posterior.sum(axis=1, keepdims=True)
    return posterior @ np.arange(1, len(prior) + 1, dtype=float)


def _hidden_hairs(frame: _Frame, core: np.ndarray, shafts: list[_Shaft], mm_per_px: float | None,
                  rules: HairRules) -> None:
    """Hairs of a unit lying over each other: count the revealed ones, add the expected
    number of hidden ones.

    A cut end crossing a shaft's band reveals a hair stacked on it (its own axis may be
    hidden): one more hair, unless the end belongs to a shaft already found. Beyond that,
    a share of a unit's hairs leave the opening so closely aligned with another that no
    image cue separates them (the clipped hairs of a unit diverge by a few degrees only).
    Their expected number follows from the number of hairs seen per unit, a unit-size prior
    that depends on the density (:func:`_unit_prior`) and the calibrated chance that a
    unit's extra hair is seen (``unit_mate_seen``); the image's total is given, one hair
    each, to the units with the highest expectation, widest band first.
    """
    lum = np.log(np.maximum(frame.ratio @ _LUMA, 1e-3)).astype(np.float32)
    core_f = core.astype(np.float32)
    w = frame.width
    units: dict[int, list[_Shaft]] = {}
    for sh in shafts:
        units.setdefault(sh.unit, []).append(sh)
    seen, widest, longest = [], [], []
    for members in units.values():
        terminal = [m for m in members if not m.fine]
        ends = [m.end for m in members]
        wide = 0.0
        for m in terminal:
            inner, union = _inner_ends(lum, core_f, m, w, rules)
            wide = max(wide, union)
            for e in inner:
                if min(float(np.hypot(*(e - q))) for q in ends) > 0.8 * w:
                    m.multiplicity += 1
                    ends.append(e)
        seen.append(sum(m.multiplicity for m in members))
        widest.append(wide)
        longest.append(max(terminal or members, key=lambda m: float(np.hypot(*(m.end - m.root)))))
    for sh in shafts:
        sh.seen = sh.multiplicity
    if not seen:
        return
    seen = np.array(seen)
    if rules.unit_mate_seen >= 1.0:
        return
    area_cm2 = _region_cm2(frame, mm_per_px)
    t_density = None
    expected = seen.astype(float)
    for _ in range(8):  # density and unit mix depend on each other: a few fixed-point steps
        expected = _expected_hairs(seen, _unit_prior(t_density, rules), rules.unit_mate_seen, rules.false_extra)
        if not area_cm2:
            break
        t_density = expected.sum() / area_cm2
    # The image's total is rounded; it goes to the units with the most hidden hairs expected
    # (widest band first), one hair each (or taken from units showing a likely spurious one).
    change = expected - seen
    extra = int(round(float(change.sum())))
    if extra >= 0:
        order = np.lexsort((-np.array(widest), -change))
        for k in order[:extra]:
            longest[k].multiplicity += 1
    else:
        order = np.lexsort((np.array(widest), change))
        for k in order[:-extra]:
            if longest[k].multiplicity > 1:
                longest[k].multiplicity -= 1


def _at_border(point: np.ndarray, shape: tuple[int, int], margin: float) -> bool:
    h, w = shape
    return bool(point[0] < margin or point[1] < margin or point[0] > w - 1 - margin or point[1] > h - 1 - margin)


def _group_units(shafts: list[_Shaft], width: float) -> None:
    """Shafts whose roots lie within a shaft width of each other leave one opening: one unit."""
    if not shafts:
        return
    roots = np.array([s.root for s in shafts])
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree
    pairs = cKDTree(roots).query_pairs(1.2 * width, output_type="ndarray")
    import scipy.sparse as sp
    graph = sp.coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(len(roots),) * 2) if len(pairs) \
        else sp.coo_matrix((len(roots), len(roots)))
    _, labels = connected_components(graph, directed=False)
    for sh, lab in zip(shafts, labels):
        sh.unit = int(lab)


# ----------------------------------------------------------------------------- unclipped

def _flow_orientation(dark: np.ndarray, width: float) -> np.ndarray:
    """Local hair orientation (radians, modulo pi): the structure tensor of the darkness
    (Bigun J., Granlund G. H., "Optimal orientation detection of linear symmetry", ICCV
    1987), integrated over ~4 shaft widths, rotated a quarter turn (the gradient runs across
    the shafts)."""
    gx = cv2.Sobel(dark, cv2.CV_32F, 1, 0)
    gy = cv2.Sobel(dark, cv2.CV_32F, 0, 1)
    sigma = 4.0 * width
    jxx = cv2.GaussianBlur(gx * gx, (0, 0), sigma)
    jyy = cv2.GaussianBlur(gy * gy, (0, 0), sigma)
    jxy = cv2.GaussianBlur(gx * gy, (0, 0), sigma)
    return 0.5 * np.arctan2(2 * jxy, jxx - jyy) + np.pi / 2


def _zone_means(image: np.ndarray, points: np.ndarray, angles: np.ndarray, along: tuple[float, float],
                half: float, step: float = 1.0) -> np.ndarray:
    """Mean of ``image`` over a rectangle per point: ``along`` (from, to) in the direction of
    its angle, ``+-half`` across (bilinear samples, NaN outside the image)."""
    if len(points) == 0:
        return np.zeros(0, np.float32)
    t = np.arange(along[0], along[1] + 1e-6, step, dtype=np.float32)
    s = np.linspace(-half, half, max(3, int(2 * half / step) + 1), dtype=np.float32)
    c, sn = np.cos(angles)[:, None, None], np.sin(angles)[:, None, None]
    x = points[:, 0, None, None] + t[None, :, None] * c - s[None, None, :] * sn
    y = points[:, 1, None, None] + t[None, :, None] * sn + s[None, None, :] * c
    flat = (len(points), -1)
    x, y = x.reshape(flat).astype(np.float32), y.reshape(flat).astype(np.float32)
    out = np.zeros(len(points), np.float32)
    for i in range(0, len(points), 30000):  # cv2.remap maps have fewer than 2**15 rows
        part = cv2.remap(image, x[i:i + 30000], y[i:i + 30000], cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=np.nan)
        with np.errstate(all="ignore"):
            out[i:i + 30000] = np.nanmean(part, axis=1)
    return out


def _count_unclipped(frame: _Frame, mm_per_px: float | None, rules: HairRules
                     ) -> tuple[list[_Shaft], float, np.ndarray]:
    """Long hair: the emergence points that can be seen, and an estimate of those that cannot.

    Combed hair covers most of an unclipped close-up, and a hair's root is seen only where
    the shaft starts on open skin; roots under other hairs leave no trace. A root is a
    shaft-wide band end facing upstream (the combing direction, from the structure tensor;
    its sense from the roots themselves): hair along ``[0.3, 3]`` widths downstream, skin over
    ``[0.3, 1.2]`` widths upstream and ``+-unclipped_skin_half`` widths across, and the brown
    follicle opening showing on that skin. The same skin test applied to every pixel gives
    the area where a root could have been seen; the hairs whose roots are hidden are the
    root density found there times the rest of the area (``unclipped_root_recall``: the
    share of visible roots the detector finds, calibrated).

    Returns the shafts at the roots found, the expected number of hidden hairs, and the
    map of where a root would have been seen.
    """
    w = frame.width
    core = _shaft_core(frame, rules).astype(np.float32)
    # Open skin is where no pixel is as dark as a shaft: the core's speck removal would also
    # remove a shaft's thin, lit or half-covered parts, and skin "seen" there makes false
    # roots along light-brown and auburn shafts.
    skin_limit = max(_core_threshold(frame, rules), rules.unclipped_skin_max_darkness)
    hair = np.maximum(core, ((frame.dark > skin_limit) & frame.region).astype(np.float32))
    theta = _flow_orientation(frame.dark, w)
    brown = (np.clip(frame.ratio[..., 0] - frame.ratio[..., 2], 0.0, 0.3) * (frame.dark > 0.15)
             * (core < 0.5)).astype(np.float32)
    # Candidates: hair pixels with skin just beside (band ends are on the mask's outline).
    edge = (core > 0) & (cv2.erode(core, np.ones((3, 3), np.uint8)) == 0)
    margin = int(round(1.5 * w))
    edge[:margin] = edge[-margin:] = False
    edge[:, :margin] = edge[:, -margin:] = False
    rr, cc = np.nonzero(edge)
    pts = np.column_stack([cc, rr]).astype(np.float32)
    flow = theta[rr, cc]
    half_skin = rules.unclipped_skin_half * w

    def sample(image: np.ndarray, angle: np.ndarray, t: float) -> np.ndarray:
        x = np.round(pts[:, 0] + t * np.cos(angle)).astype(int)
        y = np.round(pts[:, 1] + t * np.sin(angle)).astype(int)
        inside = (x >= 0) & (y >= 0) & (x < image.shape[1]) & (y < image.shape[0])
        return np.where(inside, image[np.clip(y, 0, image.shape[0] - 1), np.clip(x, 0, image.shape[1] - 1)], 0)

    best = None
    for sense in (0.0, np.pi):
        a0 = flow + sense
        # Cheap screen (skin just upstream, hair downstream), then the full zone test.
        pre = (sample(hair, a0, -0.7 * w) == 0) & (sample(core, a0, 0.8 * w) > 0) & (sample(core, a0, 1.8 * w) > 0)
        idx = np.flatnonzero(pre)
        p, a_idx = pts[idx], a0[idx]
        found = []
        for turn in np.deg2rad([-10.0, 0.0, 10.0]):
            down = _zone_means(core, p, a_idx + turn, (0.3 * w, 3.0 * w), 0.35 * w, max(1.0, 0.2 * w))
            up = _zone_means(hair, p, a_idx + turn, (-1.2 * w, -0.3 * w), half_skin, max(1.0, 0.2 * w))
            found.append(np.where((down >= 0.9) & (up <= rules.unclipped_skin_max_cover), down - up, -1.0))
        score = np.max(found, axis=0) if found else np.zeros(0)
        keep = score > 0
        opening = _zone_means(brown, p[keep], a_idx[keep], (-0.9 * w, -0.1 * w), 0.5 * w)
        keep2 = opening > rules.unclipped_opening_brownness
        cand, cand_a, cand_s = p[keep][keep2], a_idx[keep][keep2], score[keep][keep2]
        if best is None or len(cand) > len(best[0]):
            best = (cand, cand_a, cand_s, sense)
    cand, cand_a, cand_s, sense = best
    # One root per band end: non-maximum suppression within a shaft width.
    roots, directions = [], []
    order = np.argsort(-cand_s)
    taken = np.zeros(len(cand), bool)
    from scipy.spatial import cKDTree
    tree = cKDTree(cand) if len(cand) else None
    for i in order:
        if taken[i]:
            continue
        taken[tree.query_ball_point(cand[i], 1.0 * w)] = True
        roots.append(cand[i])
        directions.append(cand_a[i])
    seen = root_visible_area(hair > 0, theta + sense, w, rules) & frame.region
    shafts = []
    for k, (p, a) in enumerate(zip(roots, directions)):
        d = np.array([np.cos(a), np.sin(a)])
        end = p + 3.0 * w * d
        shafts.append(_Shaft(p.astype(float), end, w, 1, unit=k))
    # Hairs per root: the unit-size prior (hairs of a unit lie together from the opening).
    hidden = 0.0
    if shafts:
        visible_hairs = len(shafts) * _prior_mean(None, rules)
        region_area = float(frame.region.sum())
        rate = visible_hairs / max(float(seen.sum()) * rules.unclipped_root_recall, 1.0)
        total = rate * region_area
        if mm_per_px:
            density = total / _region_cm2(frame, mm_per_px)
            visible_hairs = len(shafts) * _prior_mean(density, rules)
            rate = visible_hairs / max(float(seen.sum()) * rules.unclipped_root_recall, 1.0)
            total = rate * region_area
        per_root = visible_hairs / len(shafts)
        for sh in shafts:
            sh.multiplicity = int(np.clip(round(per_root), 1, rules.max_hairs_per_unit))
        hidden = max(0.0, total - sum(sh.multiplicity for sh in shafts))
    return shafts, hidden, seen


def root_visible_area(hair: np.ndarray, downstream_rad: np.ndarray, shaft_width_px: float,
                      rules: HairRules = HairRules()) -> np.ndarray:
    """Where the root of a long hair could be seen: open skin just upstream.

    A root is seen only where its shaft starts on open skin; the long hairs lying over the
    rest of the scalp hide theirs. This is the upstream half of the root test of
    :func:`detect_hairs` (at most ``unclipped_skin_max_cover`` of hair over ``[0.3, 1.2]``
    shaft widths upstream and ``+-unclipped_skin_half`` widths across, with the direction
    turned by up to 10 degrees), applied at every pixel; a border of 1.5 shaft widths is
    left out, as for the roots.

    Parameters
    ----------
    hair : numpy.ndarray
        Bool ``(H, W)`` hair pixels.
    downstream_rad : numpy.ndarray
        ``(H, W)`` direction in which the hair lies from its root (radians, image axes).
    shaft_width_px : float
        Terminal shaft width in pixels of ``hair``.
    rules : HairRules

    Returns
    -------
    numpy.ndarray
        Bool ``(H, W)``.
    """
    w = float(shaft_width_px)
    cover = np.asarray(hair, np.float32)
    seen = np.zeros(cover.shape, bool)
    angle = np.asarray(downstream_rad, np.float32)
    bins = np.deg2rad(7.5)
    lo, hi = np.floor(angle.min() / bins), np.ceil(angle.max() / bins)
    for k in np.arange(lo, hi + 1):
        a = k * bins
        near = np.abs(np.angle(np.exp(1j * (angle - a)))) <= bins / 2 + 1e-6
        if not near.any():
            continue
        for turn in np.deg2rad([-10.0, 0.0, 10.0]):  # as the root test tries
            kernel = _zone_kernel(a + turn, w, (-1.2 * w, -0.3 * w), rules.unclipped_skin_half * w)
            up = cv2.filter2D(cover, -1, kernel, borderType=cv2.BORDER_CONSTANT)
            seen |= near & (up <= rules.unclipped_skin_max_cover)
    margin = int(round(1.5 * w))
    seen[:margin] = seen[-margin:] = False
    seen[:, :margin] = seen[:, -margin:] = False
    return seen


def _zone_kernel(angle: float, width: float, along: tuple[float, float], half: float) -> np.ndarray:
    """Averaging kernel over a rectangle ``along`` x ``+-half`` in direction ``angle``."""
    r = int(np.ceil(max(abs(along[0]), abs(along[1])) + half)) + 1
    yy, xx = np.mgrid[-r:r + 1, -r:r + 1].astype(np.float32)
    u = xx * np.cos(angle) + yy * np.sin(angle)
    v = -xx * np.sin(angle) + yy * np.cos(angle)
    k = ((u >= along[0]) & (u <= along[1]) & (np.abs(v) <= half)).astype(np.float32)
    return k / max(k.sum(), 1.0)


def _prior_mean(density_per_cm2: float | None, rules: HairRules) -> float:
    prior = _unit_prior(density_per_cm2, rules)
    return float(prior @ np.arange(1, len(prior) + 1))


# ----------------------------------------------------------------------------- entry

def _looks_clipped(frame: _Frame, rules: HairRules) -> bool:
    """Clipped or long hair, from the lengths of the dark shafts: clipped shafts are short
    separate segments; long hair makes pieces spanning much of the frame. Clipped when most
    hair area lies in pieces shorter than ``clipped_max_length_widths`` shaft widths."""
    core = _shaft_core(frame, rules)
    labels, n = ndimage.label(core, _EIGHT)
    if n == 0:
        return True
    windows = ndimage.find_objects(labels)
    extent = np.array([np.hypot(sl[0].stop - sl[0].start, sl[1].stop - sl[1].start) for sl in windows])
    area = np.bincount(labels.ravel(), minlength=n + 1)[1:]
    long_share = area[extent > rules.clipped_max_length_widths * frame.width].sum() / max(area.sum(), 1)
    return bool(long_share < 0.5)


def _white_pct(frame: _Frame, rules: HairRules) -> float:
    """Share (%) of the region whose lightness over the skin marks a white shaft."""
    if frame.light is None or not frame.region.any():
        return float("nan")
    return 100.0 * float(np.mean(frame.light[frame.region] > rules.white_lightness))


def _empty(shape: tuple[int, int], width: float, clipped: bool) -> HairDetection:
    z = np.zeros((0, 2))
    return HairDetection(z, z.copy(), np.zeros(0), np.zeros(0), np.zeros(0, int), float(width),
                         np.zeros(shape, bool), clipped, np.zeros(0, int), np.zeros(0, bool), 0.0, np.zeros(0, int))


def detect_hairs(linear: np.ndarray, region: np.ndarray | None = None, *, shaft_width_px: float | None = None,
                 clipped: bool | None = None, rules: HairRules = HairRules()) -> HairDetection:
    """Detect hairs in a trichoscopy close-up and count them by emergence point.

    Parameters
    ----------
    linear : numpy.ndarray
        ``(H, W, 3)`` linear RGB in ``[0, 1]`` (calibrated when a calibration is available).
    region : numpy.ndarray, optional
        Bool ``(H, W)`` area to analyse (default: the whole frame); hair outside it is ignored.
    shaft_width_px : float, optional
        Typical terminal shaft width in pixels, from the scale
        (``rules.terminal_width_um / (mm_per_px * 1000)``); measured in the image when not
        given (then densities, and the unit-size prior that depends on them, are unknown).
    clipped : bool, optional
        Phototrichogram (clipped hair) or long hair; detected from the shaft lengths when
        not given.
    rules : HairRules

    Returns
    -------
    HairDetection
        Coordinates in pixels of ``linear``.
    """
    linear = np.asarray(linear, np.float32)
    if linear.ndim != 3 or linear.shape[2] != 3:
        raise ValueError("linear must be an (H, W, 3) RGB array")
    h, w = linear.shape[:2]
    region = np.ones((h, w), bool) if region is None else np.asarray(region, bool)
    if region.shape != (h, w):
        raise ValueError("region must have the image's shape")
    guess = shaft_width_px or max(2.0, rules.default_width_fraction * min(h, w))
    if min(h, w) < 8 * guess or not region.any():
        return _empty((h, w), guess, True if clipped is None else clipped)
    frame = _frame(linear, region, guess, rules.working_width_px, rules)
    if not shaft_width_px:
        measured = _measure_width(frame, rules)
        if measured > 0 and not 0.8 < measured / frame.width < 1.25:
            guess = measured / frame.scale
            frame = _frame(linear, region, guess, rules.working_width_px, rules)
    kind = _looks_clipped(frame, rules) if clipped is None else bool(clipped)
    mm_per_px = rules.terminal_width_um / 1000.0 / shaft_width_px if shaft_width_px else None
    hidden = 0.0
    openings = opening_hairs = None
    if kind:
        shafts, mask, at_openings = _count_clipped(frame, mm_per_px, rules)
        work = frame
        if at_openings is not None:
            openings, opening_hairs = at_openings[0] / frame.scale, at_openings[1]
            hidden = rules.opening_count_share * float(opening_hairs.sum()) * (1.0 / rules.opening_recall - 1.0)
    else:
        work = _frame(linear, region, guess, rules.unclipped_width_px, rules, rules.unclipped_skin_red_margin)
        shafts, hidden, _ = _count_unclipped(work, mm_per_px, rules)
        mask = _shaft_core(work, rules)
    s = work.scale
    roots = np.array([x.root for x in shafts], float).reshape(-1, 2) / s
    ends = np.array([x.end for x in shafts], float).reshape(-1, 2) / s
    widths = np.array([x.width for x in shafts], float) / s
    lengths = np.linalg.norm(ends - roots, axis=1)
    mult = np.array([x.multiplicity for x in shafts], int)
    if s < 1.0:
        mask = cv2.resize(mask.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST).astype(bool)
    unit = np.array([x.unit for x in shafts], int)
    fine = np.array([x.fine for x in shafts], bool)
    seen = np.array([x.multiplicity if x.seen < 0 else x.seen for x in shafts], int)
    return HairDetection(roots, ends, widths, lengths, mult, frame.width / frame.scale, mask, kind, unit, fine,
                         float(hidden), seen, _white_pct(frame, rules), frame.level, openings, opening_hairs,
                         rules.opening_count_share if openings is not None else 1.0)
