"""Hair coverage of a global view (crown, vertex, frontal): the share of the analysed scalp
area covered by hair, i.e. the complement of the visible scalp.

Two steps.

1. A fixed colour rule in CIE L*a*b* (computed from the calibrated image) finds skin: skin is
   reddish (a* clearly positive) with a hue between red and yellow and some lightness, while
   dark hair is dark, grey hair is nearly achromatic and blond hair is much yellower than skin
   (b* several times a*). Skin colour models in L*a*b* are standard in skin detection
   (Kakumanu, Makrogiannis & Bourbakis 2007, "A survey of skin-color modeling and detection
   methods", Pattern Recognition 40(3)); the limits are protocol settings, to be set for the
   clinic's population.

2. The fixed rule only seeds a two-class model fitted on the image itself. Strands are 1-3 px
   wide in a crown photo, so most visible scalp lies next to a strand and the coverage is
   decided by the pixels that mix hair and skin. The rule puts that boundary at a fixed hue,
   which suits dark hair but lies far on the skin side for blond and white hair (whose hue is
   close to skin's): mixed pixels were counted as hair and coverage overestimated by several
   points. The pixels that the rule calls skin, and those it calls hair, away from the rule's
   boundary (eroded masks) are the training samples of Fisher's linear discriminant (Fisher
   R.A. 1936, "The use of multiple measurements in taxonomic problems", Annals of Eugenics
   7(2)) in *linear* RGB, where a pixel mixing hair and skin is (before compression) the linear
   mixture of their colours; adapting the skin model to the image is among the approaches
   reviewed by Kakumanu et al. 2007. Each pixel's discriminant score is read as its position
   between the hair seeds' mean (0) and the skin seeds' mean (1); skin is above
   ``boundary_position``. The boundary lies below half-way (the seed skin is the brightest,
   least mixed skin, away from strands; the skin between strands is darker); its value is a
   protocol setting calibrated on rendered crowns (made as in benchmarks/compare.py, part 4,
   with another seed), one value for all hair colours. The rule's least lightness still
   applies (dark pixels are hair or shadow).

   The fixed rule is used as it is when either class has too few seeds (nearly bald or fully
   covered areas), or when the two seed classes are not well apart in the photo's colours
   (``min_separation``, the Mahalanobis distance of their means): then the rule has taken
   much hair for skin (brown and auburn hair, whose hue is skin's) and its seeds would teach
   the discriminant the wrong classes.

3. The seeds are taken twice: from the photo as it is, and from the photo white-balanced by
   the grey-world assumption (Buchsbaum G. 1980, "A spatial processor model for object colour
   perception", J. Franklin Inst. 310(1)) to the average colour of a rendered crown
   (:data:`GREY_WORLD_REFERENCE`); the seeding whose classes lie further apart (the same
   Mahalanobis distance) is used, unless the photo's own rule finds too few seeds of a class
   (nearly bald or fully covered: the fixed rule's answer is sound). Brown and auburn hair
   make a photo's average red: balanced, the hair loses the skin's hue and the rule's seeds
   separate hair from skin. Blond and white hair make the average pale: balanced, the hair
   turns skin-coloured, the seeds mix, and the photo as it is wins. A pair is balanced with
   gains from both photos (:func:`grey_world_gains`). The choice is the only
   parameter-free one of those tried (a margin or the ``min_separation`` cut-off did no
   better on the calibration region). A pair is classified with one choice for both photos
   (:func:`choose_balance`), so that the choice does not become a change.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class SkinRules:
    min_a: float = 5.5
    """Skin redness: a* above this."""
    min_hue_ratio: float = 0.4
    """b*/a* of skin: between these (a hue between red and orange-yellow)."""
    max_hue_ratio: float = 1.8
    min_lightness: float = 25.0
    boundary_position: float = 0.25
    """Skin/hair boundary of the per-image discriminant, as a position between the hair mean
    (0) and the skin mean (1); 0 or less keeps the fixed rule only."""
    seed_erosion_px: int = 1
    """Seeds of the discriminant: rule skin and rule hair eroded by this radius (px)."""
    min_seed_share: float = 0.001
    """Fewer seeds of either class than this share of the area: fixed rule only."""
    min_separation: float = 2.5
    """Least Mahalanobis distance between the two seed classes' means (pooled within-class
    covariance): closer, the rule's seeds are not trusted (fixed rule only)."""


BOUNDARY_SPREAD = 0.05
"""How far the skin/hair boundary that fits a photo best lies from the calibrated one: on the
calibration region of ``benchmarks/coverage.py`` (seed 1, 14 crowns classified by the
discriminant, JPEG q88) the best boundary's 10th-90th percentiles were 0.175-0.275 around
0.25. A coverage change is also measured with the boundary moved by this much both ways, and
its interval widened by the larger difference (:func:`pipelines.compare.boundary_sensitivity_pts`)."""
UNSURE_SEPARATION = ("hair and skin colours are too close for the per-photo model (hair of the skin's hue, "
                     "e.g. brown or auburn): the fixed skin rule was used and the coverage may be off by many points")

STRAND_COHERENCE = 0.5
"""A pixel lies on a strand-like structure when the structure tensor's coherence (Bigun &
Granlund 1987; window sigma 2 px) of the high-passed image is above this: sensor noise gives a
median of 0.21 with this window, a line close to 1."""
STRAND_MIN_CONTRAST = 0.02
"""...and its gradient energy (square-root-linear grey, 0..1) is above this and above four
times the noise (MAD of the Laplacian): banding of a smooth gradient and JPEG blocks are not
strands."""
MIN_STRAND_SHARE = 0.02
"""Below this share of strand pixels the region shows no hair at all. Measured: a plain wall,
a cloth with soft folds and a smooth gradient 0.000; real crown and vertex photos (whole
frames, backdrop included) 0.10-0.50; rendered crowns 0.55-0.99."""
NO_STRANDS = ("no hair strands in the scalp region (no fine, oriented texture): not a scalp, a blank frame or "
              "badly out of focus, so no coverage is given")


GREY_WORLD_REFERENCE = (0.4646, 0.3135, 0.2219)
"""Chromaticity (r, g, b summing to 1) of the mean linear RGB of a crown's scalp region: the
geometric mean over the 28 calibration-region crowns of ``benchmarks/coverage.py`` (seed 1,
every hair colour, skin melanin 0.03-0.9; 10th-90th percentiles r 0.38-0.54, b 0.16-0.31).
A photo balanced by the grey-world assumption is scaled so that its mean has this colour."""


@dataclass(frozen=True)
class Coverage:
    coverage_pct: float
    skin_mask: np.ndarray
    """Bool: visible scalp."""
    strand_share: float = float("nan")
    """Share of the area on strand-like texture (:func:`strand_share`)."""
    position: np.ndarray | None = None
    """The per-photo discriminant's position map (:class:`SkinClassification`)."""
    fixed_rule: str | None = None
    """Why the fixed rule was used, if it was (:class:`SkinClassification`)."""
    balanced: bool = False
    """True when the skin was found on the grey-world balanced photo (:func:`grey_world`)."""

    @property
    def hair_evidence(self) -> bool:
        """False when the colour rule sees mostly hair but the area has no strands (a wall, a
        shirt, a blank frame would otherwise read as fully covered)."""
        return not (self.coverage_pct >= 50.0 and self.strand_share < MIN_STRAND_SHARE)


def strand_share(linear: np.ndarray, region: np.ndarray, side: int = 1000) -> float:
    """Share of ``region`` on fine, oriented texture (hair strands), on a copy of at most
    ``side`` px; see :data:`STRAND_COHERENCE`, :data:`STRAND_MIN_CONTRAST`."""
    h, w = region.shape
    if not region.any():
        return 0.0
    grey = np.sqrt(np.clip(linear, 0, 1)).mean(axis=2).astype(np.float32)
    factor = min(1.0, side / max(h, w))
    if factor < 1.0:
        size = (max(1, round(w * factor)), max(1, round(h * factor)))
        grey = cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
        region = cv2.resize(region.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST).astype(bool)
    fine = grey - cv2.GaussianBlur(grey, (0, 0), 3.0)
    gx = cv2.Sobel(fine, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(fine, cv2.CV_32F, 0, 1, ksize=3)
    jxx, jyy, jxy = (cv2.GaussianBlur(v, (0, 0), 2.0) for v in (gx * gx, gy * gy, gx * gy))
    coherence = np.sqrt((jxx - jyy) ** 2 + 4 * jxy ** 2) / np.maximum(jxx + jyy, 1e-12)
    lap = cv2.Laplacian(grey, cv2.CV_32F)
    noise = 1.4826 * float(np.median(np.abs(lap - np.median(lap))))
    strands = (coherence > STRAND_COHERENCE) & (np.sqrt(jxx + jyy) > max(4.0 * noise, STRAND_MIN_CONTRAST))
    return float(strands[region].mean()) if region.any() else 0.0


def _lab(linear: np.ndarray) -> np.ndarray:
    encoded = np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * np.power(np.clip(linear, 0, 1), 1 / 2.4) - 0.055)
    return cv2.cvtColor(np.clip(encoded, 0, 1).astype(np.float32), cv2.COLOR_RGB2Lab)


def _open(mask: np.ndarray) -> np.ndarray:
    # Isolated pixels are noise or hair sheen, not scalp.
    return cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, np.ones((2, 2), np.uint8)).astype(bool)


def rule_skin(linear: np.ndarray, rules: SkinRules, lab: np.ndarray | None = None) -> np.ndarray:
    """Bool mask of the pixels the fixed L*a*b* rule calls skin (before any cleaning)."""
    lab = _lab(linear) if lab is None else lab
    lightness, a, b = lab[..., 0], lab[..., 1], lab[..., 2]
    return (a > rules.min_a) & (b > rules.min_hue_ratio * a) & (b < rules.max_hue_ratio * a) & \
        (lightness > rules.min_lightness)


def _fisher(xs: np.ndarray, xh: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Fisher's discriminant of skin samples ``xs`` against hair samples ``xh``: the hair mean,
    the direction (pooled within-class covariance) and the span, the squared Mahalanobis
    distance of the two means."""
    ms, mh = xs.mean(0), xh.mean(0)
    within = 0.5 * (np.cov(xs.T) + np.cov(xh.T)) + 1e-9 * np.eye(3)
    w = np.linalg.solve(within, ms - mh)
    return mh, w, float((ms - mh) @ w)


def skin_position(linear: np.ndarray, skin_seed: np.ndarray, hair_seed: np.ndarray,
                  min_separation: float = 0.0, max_samples: int = 50_000) -> np.ndarray | None:
    """Fisher discriminant score of every pixel in linear RGB, scaled so that the hair seeds'
    mean is 0 and the skin seeds' mean is 1; ``None`` when the seed classes' means are less
    than ``min_separation`` apart (Mahalanobis distance with the pooled within-class
    covariance). Each class is fitted on at most ``max_samples`` of its seeds (evenly spaced)."""
    flat = linear.reshape(-1, 3)

    def samples(seed: np.ndarray) -> np.ndarray:
        index = np.flatnonzero(seed)
        return flat[index[::max(1, len(index) // max_samples)]].astype(np.float64)

    xs, xh = samples(skin_seed), samples(hair_seed)
    mh, w, span = _fisher(xs, xh)
    if not np.isfinite(span) or span <= 0 or np.sqrt(span) < min_separation:
        return None
    w /= span
    score = np.full(linear.shape[:2], -float(mh @ w), np.float32)
    for channel in range(3):
        score += np.float32(w[channel]) * linear[..., channel]
    return score


@dataclass(frozen=True)
class SkinClassification:
    skin: np.ndarray
    """Bool: visible scalp."""
    position: np.ndarray | None
    """The discriminant's position of every pixel (``-inf`` where too dark to be skin);
    ``None`` when the fixed rule was used."""
    fixed_rule: str | None
    """Why the fixed rule was used: ``"seeds"`` (too few of a class: nearly bald or fully
    covered, a sound answer), ``"separation"`` (the rule's classes are not apart: hair of the
    skin's hue, the answer is unsure), or ``None``."""


def _seeds(skin: np.ndarray, rules: SkinRules, area: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The discriminant's seeds: rule skin and rule hair away from their boundary, in ``area``;
    None when either class has fewer than ``min_seed_share`` of the area (at least 10)."""
    kernel = np.ones((2 * rules.seed_erosion_px + 1,) * 2, np.uint8)
    skin_seed = cv2.erode(skin.astype(np.uint8), kernel).astype(bool) & area
    hair_seed = cv2.erode((~skin).astype(np.uint8), kernel).astype(bool) & area
    least = max(rules.min_seed_share * int(area.sum()), 10)
    return None if skin_seed.sum() < least or hair_seed.sum() < least else (skin_seed, hair_seed)


def classify_skin(linear: np.ndarray, rules: SkinRules, region: np.ndarray | None = None) -> SkinClassification:
    """Visible scalp (skin) pixels of a linear-RGB image, and how they were found.

    ``region`` (bool) is where the per-image discriminant takes its seeds (the whole image
    when None).
    """
    lab = _lab(linear)
    skin = rule_skin(linear, rules, lab)
    if rules.boundary_position <= 0:
        return SkinClassification(_open(skin), None, None)
    area = np.ones(skin.shape, bool) if region is None else region
    seeds = _seeds(skin, rules, area)
    if seeds is None:
        return SkinClassification(_open(skin), None, "seeds")
    position = skin_position(linear, *seeds, rules.min_separation)
    if position is None:
        return SkinClassification(_open(skin), None, "separation")
    # Dark pixels are hair or shadow, never visible scalp.
    position = np.where(lab[..., 0] > rules.min_lightness, position, -np.inf).astype(np.float32)
    return SkinClassification(_open(position > rules.boundary_position), position, None)


def grey_world_gains(images: list[np.ndarray], region: np.ndarray) -> np.ndarray:
    """Per-channel gains (green 1) that give the mean of ``region`` over all ``images`` the
    chromaticity :data:`GREY_WORLD_REFERENCE`. A pair takes one set of gains from both photos:
    gains from each photo alone would follow the hair lost or gained (the mean colour moves
    with the coverage) and turn part of the change into a colour shift."""
    if not region.any():
        return np.ones(3, np.float32)
    mean = np.mean([image[region].reshape(-1, 3).astype(np.float64).mean(axis=0) for image in images], axis=0)
    if not np.all(mean > 0):
        return np.ones(3, np.float32)
    gains = np.asarray(GREY_WORLD_REFERENCE) / (mean / mean.sum())
    return (gains / gains[1]).astype(np.float32)


def grey_world(linear: np.ndarray, region: np.ndarray, gains: np.ndarray | None = None) -> np.ndarray:
    """``linear`` white-balanced by the grey-world assumption (a von Kries scaling of each
    channel, :func:`grey_world_gains` of ``region`` unless ``gains`` are given)."""
    gains = grey_world_gains([linear], region) if gains is None else gains
    return np.clip(linear * gains, 0.0, 1.0).astype(np.float32)


def seed_separation(linear: np.ndarray, rules: SkinRules, region: np.ndarray) -> float:
    """How far apart the fixed rule's skin and hair seeds are in ``region``: the Mahalanobis
    distance of their means in linear RGB (pooled within-class covariance); 0 when either class
    has too few seeds."""
    seeds = _seeds(rule_skin(linear, rules), rules, region)
    if seeds is None:
        return 0.0
    _, _, span = _fisher(*(linear[seed].astype(np.float64) for seed in seeds))
    return float(np.sqrt(max(span, 0.0)))


def choose_balance(images: list[np.ndarray], region: np.ndarray, rules: SkinRules,
                   gains: np.ndarray | None = None) -> bool:
    """True when the grey-world balanced photos' seeds lie further apart than the photos' own,
    judged on the worse of ``images`` (the photos of a pair, on their common area, balanced
    by ``gains``, default :func:`grey_world_gains` of all of them); False when a photo's own
    rule finds too few seeds of a class (a nearly bald or fully covered area, where the fixed
    rule's answer is sound)."""
    if rules.boundary_position <= 0 or not region.any():
        return False
    own = min(seed_separation(image, rules, region) for image in images)
    if own == 0.0:
        return False
    gains = grey_world_gains(images, region) if gains is None else gains
    balanced = min(seed_separation(grey_world(image, region, gains), rules, region) for image in images)
    return balanced > own


def skin_at(position: np.ndarray, boundary: float) -> np.ndarray:
    """Visible scalp with the discriminant's boundary at ``boundary`` (cleaned as always)."""
    return _open(position > boundary)


def hair_coverage(linear: np.ndarray, region: np.ndarray, rules: SkinRules = SkinRules(),
                  balance: bool | None = None, gains: np.ndarray | None = None) -> Coverage:
    """Hair coverage in % of ``region`` (the analysed scalp area).

    Parameters
    ----------
    linear : numpy.ndarray
        ``(H, W, 3)`` linear RGB, calibrated when a calibration is available.
    region : numpy.ndarray
        Bool analysed scalp area.
    rules : SkinRules
    balance : bool, optional
        Find the skin on the grey-world balanced photo (True) or on the photo as it is (False);
        default: whichever seeds lie further apart (:func:`choose_balance`).
    gains : numpy.ndarray, optional
        The balance's gains (a pair's, from both photos); default: this photo's
        (:func:`grey_world_gains`).

    Returns
    -------
    Coverage
    """
    if balance is None:
        balance = choose_balance([linear], region, rules, gains)
    found = classify_skin(grey_world(linear, region, gains) if balance else linear, rules, region)
    skin = found.skin & region
    area = int(region.sum())
    share = 100.0 * (1.0 - skin.sum() / area) if area else float("nan")
    return Coverage(round(share, 3), skin, round(strand_share(linear, region), 4), found.position, found.fixed_rule,
                    balance)
