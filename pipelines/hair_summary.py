"""One photo's hair figures from its list of hairs: density, shaft widths, follicular units.

One public function, :func:`summarise_hairs`, on plain arrays (one entry per hair), so the
same figures come from detected hairs and from a list a person corrected.

- **Density**: hairs per cm2 of the area analysed: every hair of the list counts (which
  hairs cut by the frame's edge are listed is the detector's rule, or the corrector's).
- **Vellus / terminal**: share of the hairs whose measured shaft width is under / at least
  the protocol's ``density.vellus_max_width_um`` (30 um by default; TrichoScan uses 40 um).
  Hairs without a measured width (added by hand) are left out of the width figures.
- **Shaft diameter** (what trichoscopy of long hair is used for; Rakowska et al. 2009,
  J Drugs Dermatol 8:505): median width, its variability (coefficient of variation, > 20 %
  suggests androgenetic alopecia) and the share of thin hairs (< 30 um, > 10 % in the
  frontal area suggests it).
- **Follicular units**: share of the units holding 1, 2, 3 and 4 or more hairs (more
  single-hair units is another of those criteria).
- **Cumulative thickness**: the sum of the shaft widths per cm2 of scalp (mm/cm2), the
  figure that follows both density and thinning (as in the HairCheck cumulative hair
  thickness, Wikramanayake et al. 2012, summed per hair here).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

THIN_HAIR_MAX_UM = 30.0
"""Rakowska et al. 2009: thin hairs are under 30 um."""


@dataclass(frozen=True)
class HairSummary:
    hair_count: int
    density_per_cm2: float | None
    """None without an area in cm2 (no scale)."""
    mean_shaft_width_um: float | None
    vellus_pct: float | None
    terminal_pct: float | None
    units_pct: dict[str, float | None]
    """Share (%) of follicular units holding ``"1"``, ``"2"``, ``"3"`` and ``"4"`` (or more) hairs."""
    cumulative_thickness_mm_per_cm2: float | None
    median_shaft_width_um: float | None
    shaft_width_cv_pct: float | None
    thin_pct: float | None
    """Share (%) of the hairs with a measured width under ``THIN_HAIR_MAX_UM``."""


def summarise_hairs(width_um: np.ndarray, unit: np.ndarray, area_cm2: float | None,
                    vellus_max_width_um: float) -> HairSummary:
    """Figures of one photo from its hairs.

    Parameters
    ----------
    width_um : numpy.ndarray
        ``(N,)`` shaft width per hair (NaN: not measured).
    unit : numpy.ndarray
        ``(N,)`` follicular unit label per hair (hairs sharing a label emerge together).
    area_cm2 : float, optional
        Area the hairs were counted in.
    vellus_max_width_um : float
        Vellus / terminal cut-off (a protocol setting).

    Returns
    -------
    HairSummary
    """
    width_um = np.asarray(width_um, float).reshape(-1)
    unit = np.asarray(unit).reshape(-1)
    if width_um.shape != unit.shape:
        raise ValueError("width_um and unit need one entry per hair")
    n = int(width_um.size)
    measured = width_um[np.isfinite(width_um)]
    density = n / area_cm2 if area_cm2 else None
    mean = median = cv = vellus = terminal = thin = thickness = None
    if measured.size:
        mean, median = float(measured.mean()), float(np.median(measured))
        cv = 100.0 * float(measured.std()) / mean if mean > 0 else None
        vellus = 100.0 * float((measured < vellus_max_width_um).mean())
        terminal = 100.0 - vellus
        thin = 100.0 * float((measured < THIN_HAIR_MAX_UM).mean())
        if density is not None:
            # Hairs without a width count at the mean width of the measured ones.
            thickness = density * mean / 1000.0
    units: dict[str, float | None] = {str(k): None for k in range(1, 5)}
    if n:
        _, sizes = np.unique(unit, return_counts=True)
        sizes = np.minimum(sizes, 4)
        units = {str(k): 100.0 * float((sizes == k).mean()) for k in range(1, 5)}
    return HairSummary(n, density, mean, vellus, terminal, units, thickness, median, cv, thin)
