"""Scalp-plane scene model: follicular units, hair shafts and their change between visits.

Coordinates are millimetres on the scalp plane with the origin at the patch's top-left
corner, ``x`` to the right and ``y`` downwards (the same handedness as image pixels at the
nominal camera pose). Angles are measured from ``+x`` towards ``+y``, i.e. clockwise as
the patch is displayed.

Figures used as defaults come from the trichoscopy literature: terminal shafts 60-110 um,
vellus shafts < 30 um, follicular units of 1-4 hairs, growth 0.3-0.4 mm/day
(Rudnicka L. et al., *Atlas of Trichoscopy*, Springer 2012; Hoffmann R., "TrichoScan",
Skin Pharmacol Appl Skin Physiol 2001;14:175-182).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np
from scipy.ndimage import gaussian_filter
from scipy.spatial import cKDTree

HAIR_GROWTH_MM_PER_DAY = 0.35
VELLUS_MAX_WIDTH_UM = 30.0
HEALTHY_UNIT_SIZE_PROBS = (0.30, 0.45, 0.20, 0.05)
THINNING_UNIT_SIZE_PROBS = (0.62, 0.30, 0.07, 0.01)

# Typical pigment level (0 = unpigmented/white, 1 = black) of the named hair colours.
HAIR_COLOUR_PIGMENT = {
    "black": 0.97,
    "dark_brown": 0.86,
    "brown": 0.68,
    "auburn": 0.55,
    "blond": 0.30,
    "grey": 0.80,  # pigmented share of a greying head; white hairs come from grey_share
}
_DEFAULT_GREY_SHARE = {"grey": 0.55}


@dataclass(frozen=True)
class Hair:
    """One hair shaft emerging from a follicular opening.

    Attributes
    ----------
    hair_id : int
        Identity kept across visits for the same shaft.
    follicle_id : int
        Identity of the follicular unit (opening) it emerges from.
    direction_deg : float
        Direction in which the shaft leaves the opening, in the scalp plane.
    length_mm : float
        Full shaft length (before any clipping done for a phototrichogram).
    width_um : float
        Shaft diameter.
    pigment : float
        0 = white/grey, 1 = black.
    curvature_per_mm : float
        Change of the in-plane direction per millimetre of shaft (radians per mm).
    lift : float
        Elevation of the shaft above the scalp as a fraction of 90 deg (0 = lying flat);
        the projected length on the plane is ``length_mm * cos(lift * pi / 2)``.
    lie_direction_deg : float, optional
        Direction the shaft settles into a few millimetres from the opening (the combing
        direction); ``None`` means the emergence direction.
    """

    hair_id: int
    follicle_id: int
    direction_deg: float
    length_mm: float
    width_um: float
    pigment: float
    curvature_per_mm: float = 0.0
    lift: float = 0.0
    lie_direction_deg: float | None = None

    @property
    def is_vellus(self) -> bool:
        """True for shafts thinner than 30 um (the usual vellus cut-off)."""
        return self.width_um < VELLUS_MAX_WIDTH_UM

    @property
    def projected_length_mm(self) -> float:
        """Length of the shaft's projection on the scalp plane."""
        return float(self.length_mm * np.cos(self.lift * np.pi / 2.0))


@dataclass(frozen=True)
class FollicularUnit:
    """A follicular opening with the hairs (0-4) that emerge from it.

    A unit with no hairs is an empty opening (a yellow dot or empty follicle in
    trichoscopy); it is drawn but never counted as a follicular unit with hair.
    """

    follicle_id: int
    x_mm: float
    y_mm: float
    hairs: tuple[Hair, ...] = ()
    opening_diameter_um: float = 140.0


@dataclass(frozen=True)
class ScalpPatch:
    """A rectangular piece of scalp: follicular units plus skin parameters.

    Attributes
    ----------
    width_mm, height_mm : float
        Extent of the patch; coordinates run from 0 to these values.
    units : tuple of FollicularUnit
        All openings, including empty ones.
    melanin : float
        Skin pigmentation, 0 (very fair, Fitzpatrick I) to 1 (very dark, VI).
    redness : float
        Erythema / vascular tone of the skin, 0..1.
    seed : int
        Seed of the skin texture (furrows, mottling, capillaries); fixed for a patient's
        site so that follow-up renders show the same skin.
    hair_colour : str
        Name of the patient's hair colour (key of ``HAIR_COLOUR_PIGMENT``).
    comb_direction_deg : float
        Mean direction in which the hair lies.
    """

    width_mm: float
    height_mm: float
    units: tuple[FollicularUnit, ...]
    melanin: float = 0.25
    redness: float = 0.3
    seed: int = 0
    hair_colour: str = "dark_brown"
    comb_direction_deg: float = 90.0

    @property
    def hairs(self) -> tuple[Hair, ...]:
        """All hairs of the patch, unit by unit."""
        return tuple(h for u in self.units for h in u.hairs)

    @property
    def hair_count(self) -> int:
        """Number of hairs (not units) in the patch."""
        return sum(len(u.hairs) for u in self.units)

    @property
    def area_cm2(self) -> float:
        """Patch area in square centimetres."""
        return self.width_mm * self.height_mm / 100.0

    @property
    def density_per_cm2(self) -> float:
        """Hairs per square centimetre over the whole patch."""
        return self.hair_count / self.area_cm2

    @property
    def centre_mm(self) -> tuple[float, float]:
        """Centre of the patch, where a camera aims by default."""
        return (self.width_mm / 2.0, self.height_mm / 2.0)

    def hair_arrays(self) -> dict[str, np.ndarray]:
        """Hair attributes as parallel arrays (one entry per hair), for vectorised use.

        Returns
        -------
        dict of str to numpy.ndarray
            Keys ``hair_id``, ``follicle_id``, ``x_mm``, ``y_mm``, ``direction_deg``,
            ``length_mm``, ``width_um``, ``pigment``, ``curvature_per_mm``, ``lift``,
            ``rank`` (index of the hair within its unit), ``unit_size`` and
            ``lie_direction_deg``.
        """
        rows = [
            (h.hair_id, h.follicle_id, u.x_mm, u.y_mm, h.direction_deg, h.length_mm,
             h.width_um, h.pigment, h.curvature_per_mm, h.lift, k, len(u.hairs),
             h.direction_deg if h.lie_direction_deg is None else h.lie_direction_deg)
            for u in self.units for k, h in enumerate(u.hairs)
        ]
        names = ("hair_id", "follicle_id", "x_mm", "y_mm", "direction_deg", "length_mm",
                 "width_um", "pigment", "curvature_per_mm", "lift", "rank", "unit_size",
                 "lie_direction_deg")
        table = np.array(rows, dtype=float).reshape(-1, len(names))
        out = {n: table[:, i] for i, n in enumerate(names)}
        for n in ("hair_id", "follicle_id", "rank", "unit_size"):
            out[n] = out[n].astype(np.int64)
        return out


@dataclass(frozen=True)
class EvolutionTruth:
    """What changed between a baseline patch and its follow-up.

    Attributes
    ----------
    days : float
        Interval between the visits.
    matched_hair_ids : tuple of int
        Hairs present at both visits (same ``hair_id``).
    lost_hair_ids : tuple of int
        Baseline hairs absent at follow-up.
    new_hair_ids : tuple of int
        Follow-up hairs absent at baseline.
    new_follicle_ids : tuple of int
        Openings that did not exist at baseline.
    baseline_hair_count, followup_hair_count : int
        Hair counts over the whole patch.
    density_change_pct : float
        Realised change of the patch's hair count, in percent.
    width_change_um : float
        Mean width change of the matched hairs.
    """

    days: float
    matched_hair_ids: tuple[int, ...]
    lost_hair_ids: tuple[int, ...]
    new_hair_ids: tuple[int, ...]
    new_follicle_ids: tuple[int, ...]
    baseline_hair_count: int
    followup_hair_count: int
    density_change_pct: float
    width_change_um: float


def hard_core_points(rng: np.random.Generator, n: int, width_mm: float, height_mm: float,
                     min_spacing_mm: float) -> np.ndarray:
    """Place ``n`` random points with a minimum spacing (a Poisson-disc-like pattern).

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness.
    n : int
        Number of points wanted.
    width_mm, height_mm : float
        Rectangle to fill.
    min_spacing_mm : float
        No two points are closer than this.

    Returns
    -------
    numpy.ndarray
        ``(n, 2)`` points (fewer if the spacing cannot accommodate ``n``).

    Notes
    -----
    Matérn type-II thinning of a dense Poisson process (Matérn B., *Spatial Variation*,
    2nd ed., Springer 1986): every candidate gets a random mark and is dropped if a
    neighbour within the spacing has a smaller mark. Vectorised with a k-d tree, then
    ``n`` survivors are taken at random.
    """
    if n <= 0:
        return np.zeros((0, 2))
    area = width_mm * height_mm
    # Enough candidates that the thinned pattern saturates near its maximum intensity.
    n_cand = int(max(4 * n, 3.5 * area / (np.pi * min_spacing_mm**2)))
    cand = rng.uniform((0.0, 0.0), (width_mm, height_mm), size=(n_cand, 2))
    marks = rng.permutation(n_cand)
    pairs = cKDTree(cand).query_pairs(min_spacing_mm, output_type="ndarray")
    killed = np.zeros(n_cand, bool)
    if len(pairs):
        i, j = pairs[:, 0], pairs[:, 1]
        killed[np.where(marks[i] > marks[j], i, j)] = True
    survivors = cand[~killed]
    take = rng.permutation(len(survivors))[:n]
    return survivors[np.sort(take)]


def _unit_size_probs(density_per_cm2: float) -> np.ndarray:
    """Unit-size mix sliding from healthy (>= 180/cm2) to thinning (<= 60/cm2) scalp."""
    t = float(np.clip((180.0 - density_per_cm2) / 120.0, 0.0, 1.0))
    p = (1 - t) * np.array(HEALTHY_UNIT_SIZE_PROBS) + t * np.array(THINNING_UNIT_SIZE_PROBS)
    return p / p.sum()


def _smooth_direction_field(rng: np.random.Generator, comb_direction_deg: float,
                            amplitude_deg: float):
    """A slowly varying lie direction (hair streams), as a function of (x, y) in mm."""
    k = rng.uniform(0.15, 0.35, size=2) * rng.choice([-1, 1], size=2)
    phase = rng.uniform(0, 2 * np.pi, size=2)

    def field(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return (comb_direction_deg
                + amplitude_deg * 0.6 * np.sin(k[0] * x + phase[0])
                + amplitude_deg * 0.4 * np.sin(k[1] * y + phase[1]))
    return field


def _terminal_widths(rng: np.random.Generator, n: int, lo: float, hi: float) -> np.ndarray:
    """Terminal shaft widths spread over ``[lo, hi]`` um, denser in the middle."""
    return lo + (hi - lo) * rng.beta(2.2, 2.2, size=n)


def make_scalp_patch(rng: np.random.Generator, width_mm: float = 20.0,
                     height_mm: float = 20.0, density_per_cm2: float = 180.0,
                     vellus_share: float = 0.1, *, hair_colour: str = "dark_brown",
                     grey_share: float | None = None,
                     unit_size_probs: tuple[float, ...] | None = None,
                     comb_direction_deg: float = 90.0, direction_spread_deg: float = 10.0,
                     terminal_width_um: tuple[float, float] = (60.0, 110.0),
                     length_mm: tuple[float, float] = (25.0, 80.0),
                     empty_opening_share: float = 0.08, melanin: float = 0.25,
                     redness: float = 0.3, curvature_sd_per_mm: float = 0.03,
                     seed: int | None = None) -> ScalpPatch:
    """Generate a scalp patch with a given hair density.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness (the patch is reproducible from it).
    width_mm, height_mm : float
        Patch extent. Make it larger than the camera field (e.g. 20 x 20 mm for a
        10 x 7.5 mm dermatoscope field) so shifted or rotated views see scalp everywhere.
    density_per_cm2 : float
        Hairs (not units) per square centimetre.
    vellus_share : float
        Fraction of hairs that are vellus (< 30 um).
    hair_colour : str
        One of ``HAIR_COLOUR_PIGMENT``.
    grey_share : float, optional
        Fraction of unpigmented (white/grey) hairs; default 0, or 0.55 for ``"grey"``.
    unit_size_probs : tuple of float, optional
        Probabilities of units with 1, 2, 3, 4 hairs; by default ~30/45/20/5 % on healthy
        scalp, shifting to more singles as density falls (pattern hair loss).
    comb_direction_deg : float
        Mean direction in which hairs lie.
    direction_spread_deg : float
        Spread of individual hair directions around the local stream direction.
    terminal_width_um : tuple of float
        Range of terminal shaft widths.
    length_mm : tuple of float
        Range of terminal hair lengths (vellus hairs are 1-6 mm).
    empty_opening_share : float
        Openings without hair, relative to the number of hair-bearing units.
    melanin, redness : float
        Skin tone parameters (0..1).
    curvature_sd_per_mm : float
        Standard deviation of shaft curvature (rad/mm).
    seed : int, optional
        Skin texture seed; drawn from ``rng`` when omitted.

    Returns
    -------
    ScalpPatch
    """
    if hair_colour not in HAIR_COLOUR_PIGMENT:
        raise ValueError(f"unknown hair colour {hair_colour!r}")
    if grey_share is None:
        grey_share = _DEFAULT_GREY_SHARE.get(hair_colour, 0.0)
    texture_seed = int(rng.integers(0, 2**31 - 1)) if seed is None else int(seed)
    area_cm2 = width_mm * height_mm / 100.0
    n_hairs = int(round(density_per_cm2 * area_cm2))
    probs = (np.asarray(unit_size_probs, float) / np.sum(unit_size_probs)
             if unit_size_probs is not None else _unit_size_probs(density_per_cm2))

    # Unit sizes drawn until they hold exactly n_hairs (the last unit is trimmed).
    sizes = rng.choice(np.arange(1, len(probs) + 1), size=n_hairs + 1, p=probs)
    cum = np.cumsum(sizes)
    n_units = int(np.searchsorted(cum, n_hairs) + 1) if n_hairs > 0 else 0
    sizes = sizes[:n_units].copy()
    if n_units:
        sizes[-1] -= cum[n_units - 1] - n_hairs
    n_empty = int(round(empty_opening_share * n_units))
    n_open = n_units + n_empty
    spacing = 0.45 * np.sqrt(width_mm * height_mm / max(n_open, 1))
    pts = hard_core_points(rng, n_open, width_mm, height_mm, spacing)
    n_open = len(pts)
    order = rng.permutation(n_open)
    hair_units = order[: min(n_units, n_open)]
    sizes = sizes[: len(hair_units)]

    n = int(sizes.sum())
    # Vellus hairs are more often single: weight singles 3x when choosing them.
    unit_of_hair = np.repeat(np.arange(len(hair_units)), sizes)
    weights = np.where(sizes[unit_of_hair] == 1, 3.0, 1.0)
    n_vellus = int(round(vellus_share * n))
    vellus = np.zeros(n, bool)
    if n_vellus:
        vellus[rng.choice(n, n_vellus, replace=False, p=weights / weights.sum())] = True

    widths = _terminal_widths(rng, n, *terminal_width_um)
    widths[vellus] = rng.uniform(12.0, 28.0, size=vellus.sum())
    base = HAIR_COLOUR_PIGMENT[hair_colour]
    pigment = np.clip(base + rng.normal(0, 0.05, n), 0.0, 1.0)
    grey = rng.random(n) < grey_share
    pigment[grey] = rng.uniform(0.0, 0.12, grey.sum())
    pigment[vellus] *= rng.uniform(0.25, 0.6, vellus.sum())  # vellus are hypopigmented
    lengths = rng.uniform(*length_mm, size=n)
    lengths[vellus] = rng.uniform(1.0, 6.0, vellus.sum())
    lift = rng.beta(1.3, 9.0, n)
    lift[vellus] = rng.beta(2.0, 5.0, vellus.sum())  # fine hairs stand up more

    field = _smooth_direction_field(rng, comb_direction_deg, 15.0)
    ux, uy = pts[hair_units, 0], pts[hair_units, 1]
    unit_dir = field(ux, uy) + rng.normal(0, direction_spread_deg, len(hair_units))
    directions = unit_dir[unit_of_hair] + rng.normal(0, 6.0, n)
    lie = field(ux, uy)[unit_of_hair] + rng.normal(0, 3.5, n)
    curvature = rng.normal(0, curvature_sd_per_mm, n)

    hairs_of_unit: dict[int, list[Hair]] = {}
    for hid in range(n):
        k = int(unit_of_hair[hid])
        hairs_of_unit.setdefault(k, []).append(Hair(
            hair_id=hid, follicle_id=int(hair_units[k]),
            direction_deg=float(directions[hid]), length_mm=float(lengths[hid]),
            width_um=float(widths[hid]), pigment=float(pigment[hid]),
            curvature_per_mm=float(curvature[hid]), lift=float(lift[hid]),
            lie_direction_deg=float(lie[hid])))
    unit_index = {int(f): k for k, f in enumerate(hair_units)}
    units = []
    for fid in range(n_open):
        hairs = tuple(hairs_of_unit.get(unit_index.get(fid, -1), ()))
        units.append(FollicularUnit(
            follicle_id=fid, x_mm=float(pts[fid, 0]), y_mm=float(pts[fid, 1]), hairs=hairs,
            opening_diameter_um=_opening_diameter_um(rng, hairs)))
    return ScalpPatch(width_mm=float(width_mm), height_mm=float(height_mm),
                      units=tuple(units), melanin=float(melanin), redness=float(redness),
                      seed=texture_seed, hair_colour=hair_colour,
                      comb_direction_deg=float(comb_direction_deg))


def _opening_diameter_um(rng: np.random.Generator, hairs: tuple[Hair, ...]) -> float:
    """Ostium size: grows with the number and thickness of the hairs it holds."""
    if not hairs:
        return float(rng.uniform(90.0, 170.0))
    total = sum(h.width_um for h in hairs)
    return float(np.clip(70.0 + 0.9 * total + rng.normal(0, 12.0), 70.0, 320.0))


def _neighbour_direction(units: list[FollicularUnit], tree: cKDTree, xy: np.ndarray,
                         fallback_deg: float) -> float:
    """Mean lie direction of the hairs of the nearest openings (circular mean)."""
    if not units:
        return fallback_deg
    _, idx = tree.query(xy, k=min(6, len(units)))
    angles = [h.direction_deg if h.lie_direction_deg is None else h.lie_direction_deg
              for i in np.atleast_1d(idx) for h in units[int(i)].hairs]
    if not angles:
        return fallback_deg
    a = np.deg2rad(angles)
    return float(np.rad2deg(np.arctan2(np.sin(a).mean(), np.cos(a).mean())))


def evolve_patch(patch: ScalpPatch, rng: np.random.Generator, days: float = 182.0,
                 density_change_pct: float = 0.0, width_change_um: float = 0.0, *,
                 turnover_pct: float = 6.0,
                 growth_mm_per_day: float = HAIR_GROWTH_MM_PER_DAY,
                 new_unit_share: float = 0.3, relay_deg: float = 0.0) -> tuple[ScalpPatch, EvolutionTruth]:
    """Simulate the same scalp patch at a follow-up visit.

    Parameters
    ----------
    patch : ScalpPatch
        Baseline scalp.
    rng : numpy.random.Generator
        Source of randomness.
    days : float
        Interval between the visits.
    density_change_pct : float
        Net change of the hair count (e.g. +12 for a treatment response).
    width_change_um : float
        Mean change of surviving shaft widths (negative = miniaturisation).
    turnover_pct : float
        Hairs shed and replaced regardless of the net change (telogen turnover), as a
        percentage of the baseline count.
    growth_mm_per_day : float
        Mean growth rate of surviving hairs (0.3-0.4 mm/day in the literature).
    new_unit_share : float
        Share of new hairs that appear in new openings rather than existing ones.
    relay_deg : float
        Long hair lies differently at every visit (washed, combed, parted). Above 0, the
        whole patch is combed again: its lie direction turns by up to this many degrees
        (uniform, one draw), each hair's by a further 15 deg (sd), and every hair gets a new
        curvature and lift. Emergence points and directions at the opening stay: they are
        the follicle's.

    Returns
    -------
    ScalpPatch
        Follow-up patch: same skin seed and opening positions; survivors keep their
        ``hair_id``, new hairs get new ids.
    EvolutionTruth
        Matched, lost and new hair ids.
    """
    hairs = patch.hairs
    n0 = len(hairs)
    n_target = int(round(n0 * (1.0 + density_change_pct / 100.0)))
    n_turn = int(round(n0 * turnover_pct / 100.0))
    n_lost = min(n0, n_turn + max(0, n0 - n_target))
    n_new = n_target - (n0 - n_lost)
    lost_idx = rng.choice(n0, n_lost, replace=False) if n_lost else np.zeros(0, int)
    lost_ids = {hairs[i].hair_id for i in lost_idx}

    units: list[FollicularUnit] = []
    width_deltas = []
    # Drawn only when asked for, so that relay_deg=0 keeps every other draw as it was.
    combed = float(rng.uniform(-relay_deg, relay_deg)) if relay_deg > 0 else 0.0
    for u in patch.units:
        kept = []
        for h in u.hairs:
            if h.hair_id in lost_ids:
                continue
            dw = width_change_um + rng.normal(0.0, 1.5)
            width_deltas.append(dw)
            rate = max(0.0, rng.normal(growth_mm_per_day, 0.03))
            moved = {}
            if relay_deg > 0:
                lie = h.direction_deg if h.lie_direction_deg is None else h.lie_direction_deg
                moved = dict(lie_direction_deg=float(lie + combed + rng.normal(0.0, 15.0)),
                             curvature_per_mm=float(rng.normal(0.0, 0.03)), lift=float(rng.beta(1.5, 7.0)))
            kept.append(replace(h, width_um=float(np.clip(h.width_um + dw, 8.0, 130.0)),
                                length_mm=h.length_mm + rate * days, **moved))
        units.append(replace(u, hairs=tuple(kept)))

    next_hair = max((h.hair_id for h in hairs), default=-1) + 1
    next_fid = max((u.follicle_id for u in patch.units), default=-1) + 1
    tree = cKDTree(np.array([(u.x_mm, u.y_mm) for u in patch.units]).reshape(-1, 2))
    new_ids: list[int] = []
    new_fids: list[int] = []
    n_in_new_units = int(round(max(n_new, 0) * new_unit_share))
    base_pig = HAIR_COLOUR_PIGMENT[patch.hair_colour]

    def new_hair(fid: int, direction: float, lie: float) -> Hair:
        nonlocal next_hair
        # A hair that started growing at a random time during the interval.
        length = max(0.2, days * growth_mm_per_day * rng.uniform(0.05, 1.0))
        width = (rng.uniform(14.0, 34.0) if rng.random() < 0.45
                 else rng.uniform(40.0, 85.0)) + max(width_change_um, 0.0)
        h = Hair(hair_id=next_hair, follicle_id=fid,
                 direction_deg=float(direction + rng.normal(0, 8.0)),
                 length_mm=float(length), width_um=float(width),
                 pigment=float(np.clip(base_pig * rng.uniform(0.6, 1.0), 0, 1)),
                 curvature_per_mm=float(rng.normal(0, 0.03)),
                 lift=float(rng.beta(1.5, 7.0)),
                 lie_direction_deg=float(lie + rng.normal(0, 3.5)))
        new_ids.append(next_hair)
        next_hair += 1
        return h

    # New openings, kept apart from existing ones.
    spacing = 0.45 * np.sqrt(patch.width_mm * patch.height_mm / max(len(patch.units), 1))
    placed = [(u.x_mm, u.y_mm) for u in patch.units]
    remaining = n_in_new_units
    tries = 0
    while remaining > 0 and tries < 200 * max(n_in_new_units, 1):
        tries += 1
        xy = rng.uniform((0, 0), (patch.width_mm, patch.height_mm))
        if placed and np.min(np.hypot(*(np.asarray(placed) - xy).T)) < spacing:
            continue
        placed.append(tuple(xy))
        size = 1 if remaining == 1 or rng.random() < 0.8 else 2
        d = _neighbour_direction(list(patch.units), tree, xy, patch.comb_direction_deg)
        fid = next_fid
        next_fid += 1
        new_fids.append(fid)
        hs = tuple(new_hair(fid, d, d) for _ in range(size))
        units.append(FollicularUnit(follicle_id=fid, x_mm=float(xy[0]), y_mm=float(xy[1]),
                                    hairs=hs, opening_diameter_um=_opening_diameter_um(rng, hs)))
        remaining -= size

    # The rest appear in existing openings with room (including empty ones reactivated).
    remaining = max(n_new, 0) - (n_in_new_units - max(remaining, 0))
    while remaining > 0:
        room = [i for i, u in enumerate(units) if len(u.hairs) < 4]
        if not room:
            break
        i = int(rng.choice(room))
        u = units[i]
        if u.hairs:
            d = u.hairs[0].direction_deg
            lie = (d if u.hairs[0].lie_direction_deg is None
                   else u.hairs[0].lie_direction_deg)
        else:
            d = lie = _neighbour_direction(list(patch.units), tree, (u.x_mm, u.y_mm),
                                           patch.comb_direction_deg)
        units[i] = replace(u, hairs=u.hairs + (new_hair(u.follicle_id, d, lie),))
        remaining -= 1

    followup = replace(patch, units=tuple(units))
    matched = tuple(sorted(h.hair_id for h in hairs if h.hair_id not in lost_ids))
    n1 = followup.hair_count
    truth = EvolutionTruth(
        days=float(days), matched_hair_ids=matched, lost_hair_ids=tuple(sorted(lost_ids)),
        new_hair_ids=tuple(new_ids), new_follicle_ids=tuple(new_fids),
        baseline_hair_count=n0, followup_hair_count=n1,
        density_change_pct=100.0 * (n1 - n0) / max(n0, 1),
        width_change_um=float(np.mean(width_deltas)) if width_deltas else 0.0)
    return followup, truth


# --- Appearance helpers shared by the renderers (linear-RGB albedos, procedural noise) ---

def _srgb_to_linear(rgb8: np.ndarray) -> np.ndarray:
    e = np.asarray(rgb8, float) / 255.0
    return np.where(e <= 0.04045, e / 12.92, ((e + 0.055) / 1.055) ** 2.4)


# Hair colour along the pigment axis, as seen under the dermatoscope's white light
# (sRGB keypoints, interpolated in linear light).
_HAIR_PIGMENT_KEYS = np.array([0.0, 0.15, 0.30, 0.55, 0.70, 0.86, 1.0])
_HAIR_PIGMENT_SRGB = np.array([(208, 204, 196), (196, 182, 152), (176, 140, 88),
                               (118, 84, 58), (84, 61, 45), (50, 36, 28), (24, 20, 18)])


def hair_albedo(pigment: np.ndarray) -> np.ndarray:
    """Linear-RGB diffuse albedo of hair shafts from their pigment level.

    Parameters
    ----------
    pigment : numpy.ndarray
        ``(N,)`` values in ``[0, 1]`` (0 = white, 1 = black).

    Returns
    -------
    numpy.ndarray
        ``(N, 3)`` linear RGB.
    """
    p = np.clip(np.atleast_1d(np.asarray(pigment, float)), 0.0, 1.0)
    lin = _srgb_to_linear(_HAIR_PIGMENT_SRGB)
    # Interpolate in log space: perceived darkness changes smoothly with melanin.
    log = np.log(lin)
    return np.exp(np.stack([np.interp(p, _HAIR_PIGMENT_KEYS, log[:, c]) for c in range(3)], 1))


def skin_albedo(melanin: float, redness: float) -> np.ndarray:
    """Linear-RGB albedo of scalp skin under polarised white light.

    Parameters
    ----------
    melanin : float
        0 (Fitzpatrick I) .. 1 (VI).
    redness : float
        0..1 erythema.

    Returns
    -------
    numpy.ndarray
        ``(3,)`` linear RGB.
    """
    fair = np.log(_srgb_to_linear((236, 196, 178)))
    dark = np.log(_srgb_to_linear((128, 86, 62)))
    m = float(np.clip(melanin, 0.0, 1.0))
    rgb = np.exp((1 - m) * fair + m * dark)
    return rgb * np.array([1.0, 1.0 - 0.2 * redness, 1.0 - 0.12 * redness])


def value_noise(seed: int, key: int, cell_mm: float, bounds_mm: tuple[float, float, float, float],
                x_mm: np.ndarray, y_mm: np.ndarray) -> np.ndarray:
    """Smooth random field defined on the scalp plane, sampled at arbitrary points.

    The field is a Gaussian-smoothed random lattice over ``bounds_mm`` drawn from
    ``(seed, key)``, so every view of the same scalp sees the same texture.

    Parameters
    ----------
    seed, key : int
        Identify the field.
    cell_mm : float
        Lattice spacing (feature size is ~2 cells).
    bounds_mm : tuple of float
        ``(x0, y0, x1, y1)`` region over which the lattice is defined (mirrored outside).
    x_mm, y_mm : numpy.ndarray
        float32 coordinates of the sample points (any shape, 2-D for images).

    Returns
    -------
    numpy.ndarray
        float32 field of zero mean and unit standard deviation, shaped like ``x_mm``.
    """
    x0, y0, x1, y1 = bounds_mm
    nx = int(np.ceil((x1 - x0) / cell_mm)) + 2
    ny = int(np.ceil((y1 - y0) / cell_mm)) + 2
    lat = np.random.default_rng([seed, key]).standard_normal((ny, nx)).astype(np.float32)
    lat = gaussian_filter(lat, 0.8, mode="wrap")
    lat = (lat - lat.mean()) / (lat.std() + 1e-9)
    shape = np.shape(x_mm)
    mx = ((np.asarray(x_mm, np.float32) - x0) / cell_mm).astype(np.float32).ravel()
    my = ((np.asarray(y_mm, np.float32) - y0) / cell_mm).astype(np.float32).ravel()
    # cv2.remap needs 2-D maps with sides below 32767: fold the samples into rows.
    n = mx.size
    cols = 4096
    rows = max(1, -(-n // cols))
    pad = rows * cols - n
    mx = np.pad(mx, (0, pad)).reshape(rows, cols)
    my = np.pad(my, (0, pad)).reshape(rows, cols)
    out = cv2.remap(lat, mx, my, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT_101)
    return out.ravel()[:n].reshape(shape)
