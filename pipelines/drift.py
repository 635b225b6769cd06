"""Photography drift of a station or an operator over time: statistical process control.

Each measured quantity of a station's (or an operator's) photos -- exposure, white balance,
focus, scale, roll, tilt, camera settings -- is one *control chart* in capture-time order
(:func:`control_chart`). The first ``reference_photos`` photos are the reference period: they
define normal (the centre line and the short-term sigma). Every later photo is judged by two
rules:

* the Shewhart individuals chart (a photo beyond centre +- ``shewhart_sigma`` sigma): a jump,
  e.g. someone changed the ISO or moved the lamp;
* the EWMA chart (the exponentially weighted moving average beyond its exact time-varying
  limits): a slow drift, e.g. a lamp ageing or a stand sagging a little every week.

Runs of out-of-control photos are reported as :class:`DriftEvent` s, one per finding (see
:func:`control_chart` for how runs of the two rules are merged).

References
----------
.. [1] D. C. Montgomery, *Introduction to Statistical Quality Control*, 8th ed., Wiley, 2019:
   ch. 6 (the individuals chart and the moving-range estimate of sigma, d2 = 1.128 for
   moving ranges of two), ch. 9 (the EWMA chart).
.. [2] S. W. Roberts, "Control chart tests based on geometric moving averages",
   *Technometrics* 1(3), 239-250, 1959.
.. [3] J. M. Lucas and M. S. Saccucci, "Exponentially weighted moving average control schemes:
   properties and enhancements", *Technometrics* 32(1), 1-12, 1990.
"""
from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SPCSettings:
    """The protocol's ``[audit.drift]`` settings."""

    reference_photos: int = 20
    """The first this many photos of a station (or operator) are its reference period: they
    set the chart's centre line and sigma."""
    min_photos: int = 8
    """Fewer photos in the reference period: no limits (the chart says so)."""
    shewhart_sigma: float = 3.0
    """Individuals chart: a photo beyond centre +- this many sigma is a jump."""
    ewma_lambda: float = 0.2
    """EWMA weight of the newest photo (small: sensitive to slow drift)."""
    ewma_sigma: float = 3.0
    """EWMA limits, in sigma of the EWMA statistic."""
    shewhart_min_run: int = 2
    """A jump is a finding when at least this many consecutive photos are beyond the
    Shewhart limits (or when the EWMA signals too). One photo alone is that photo's own
    problem, which its checks report; counted as drift, a single point beyond 3 sigma is a
    false alarm on roughly one chart in ten of 20 judged photos when the limits come from a
    20-photo reference (measured: 1.3 % of steady photos beyond them, not 0.27 %)."""


@dataclass(frozen=True)
class Observation:
    """One photo's value of one quantity."""

    photo: str
    """Relative path of the photo in the archive."""
    taken_at: dt.datetime
    value: float


@dataclass(frozen=True)
class DriftEvent:
    """One out-of-control run on one chart: a finding, not one row per photo."""

    group_kind: str
    """``station`` or ``operator``."""
    group: str
    quantity: str
    """e.g. ``exposure_ev``, ``white_balance_mired``, ``focus``, ``mm_per_px``, ``roll_deg``,
    ``tilt_deg``, ``camera_settings``."""
    unit: str
    rule: str
    """``shewhart`` (a jump) or ``ewma`` (a slow drift)."""
    direction: str
    """``up`` or ``down``."""
    since: dt.datetime
    """When the drift started (estimated change point)."""
    detected_at: dt.datetime
    """The first photo beyond the limits."""
    size: float
    """Mean of the affected photos minus the centre line, in ``unit``."""
    size_sigma: float
    """The same in reference sigmas."""
    photos: tuple[str, ...]
    """The photos affected (from ``since`` to the end of the run)."""


@dataclass(frozen=True)
class ControlChart:
    """One quantity of one station or operator, in time order."""

    group_kind: str
    group: str
    quantity: str
    unit: str
    photos: tuple[str, ...]
    taken_at: tuple[dt.datetime, ...]
    values: tuple[float, ...]
    centre: float | None
    """Mean of the reference period; None when it has too few photos."""
    sigma: float | None
    """Short-term sigma of the reference period (average moving range / 1.128)."""
    reference_end: dt.datetime | None
    """Capture time of the last reference photo."""
    lower_limit: float | None
    upper_limit: float | None
    """Individuals (Shewhart) limits."""
    ewma: tuple[float, ...]
    ewma_lower: tuple[float, ...]
    ewma_upper: tuple[float, ...]
    """EWMA statistic and its exact time-varying limits, one per photo (empty without limits)."""
    events: tuple[DriftEvent, ...]
    note: str | None = None
    """Why there are no limits, when there are none."""


D2_MOVING_RANGE = 1.128
"""d2 of a moving range of two consecutive values: E[|x_i - x_(i-1)|] = 1.128 sigma ([1], ch. 6)."""

SIGMA_FLOOR = 1e-9
"""Relative floor of sigma: ``sigma >= SIGMA_FLOOR * max(1, |centre|)``. A reference period
with one value throughout (a camera setting nobody touched) has a moving range of 0; with the
floor, any later change larger than a few parts per billion of the value is an event, while the
floating-point noise of the mean (parts per 10^16) is not."""


def _check_settings(settings: SPCSettings) -> None:
    if settings.reference_photos < 2:
        raise ValueError(f"reference_photos must be at least 2, not {settings.reference_photos}")
    if not 0.0 < settings.ewma_lambda <= 1.0:
        raise ValueError(f"ewma_lambda must be in (0, 1], not {settings.ewma_lambda}")
    if not settings.shewhart_sigma > 0.0 or not settings.ewma_sigma > 0.0:
        raise ValueError("shewhart_sigma and ewma_sigma must be positive")


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) indices, inclusive, of the runs of True in ``mask``."""
    edges = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1) - 1
    return list(zip(starts.tolist(), ends.tolist()))


def _ewma(values: np.ndarray, centre: float, lam: float) -> np.ndarray:
    """z_i = lam * x_i + (1 - lam) * z_(i-1), z_0 = centre ([2])."""
    z = np.empty_like(values)
    previous = centre
    keep = 1.0 - lam
    for i, x in enumerate(values.tolist()):
        previous = lam * x + keep * previous
        z[i] = previous
    return z


def _findings(values: np.ndarray, z: np.ndarray, ewma_lower: np.ndarray, ewma_upper: np.ndarray,
              lower: float, upper: float, centre: float,
              first_judged: int, min_run: int = 1) -> list[tuple[str, str, int, int, int]]:
    """The findings as (rule, direction, since, detected, last) indices; see control_chart."""
    n = len(values)
    judged = np.arange(n) >= first_judged
    index = np.arange(n)
    found: list[tuple[str, str, int, int, int]] = []
    for direction in ("up", "down"):
        if direction == "up":
            jump, drift, other_side = values > upper, z > ewma_upper, z <= centre
        else:
            jump, drift, other_side = values < lower, z < ewma_lower, z >= centre
        # last_other[i]: the last index <= i at which z was on the centre line or its other
        # side (-1: z_0 = centre, before the first photo).
        last_other = np.maximum.accumulate(np.where(other_side, index, -1))
        # EWMA episodes: runs of EWMA signals; runs not separated by a crossing of the centre
        # line (same change point) are one episode. [since, detected, last].
        episodes: list[list[int]] = []
        for start, end in _runs(drift & judged):
            since = max(int(last_other[start - 1]) + 1 if start > 0 else 0, first_judged)
            if episodes and episodes[-1][0] == since:
                episodes[-1][2] = end
            else:
                episodes.append([since, start, end])
        first_jump = [None] * len(episodes)
        for start, end in _runs(jump & judged):
            for k, (since, _, last) in enumerate(episodes):
                if start <= last and end >= since:  # overlaps the episode: part of that finding
                    first_jump[k] = start if first_jump[k] is None else min(first_jump[k], start)
                    episodes[k][2] = max(last, end)
                    break
            else:
                if end - start + 1 >= min_run:
                    found.append(("shewhart", direction, start, start, end))
        for (since, detected, last), jumped in zip(episodes, first_jump):
            if jumped is not None and jumped <= detected:
                found.append(("shewhart", direction, jumped, jumped, last))
            else:
                found.append(("ewma", direction, since, detected, last))
    found.sort(key=lambda f: (f[3], f[0], f[1]))
    return found


def control_chart(observations: Sequence[Observation], settings: SPCSettings, *, group_kind: str, group: str,
                  quantity: str, unit: str) -> ControlChart:
    """The control chart of one quantity of one station (or operator), and its drift events.

    Parameters
    ----------
    observations : sequence of Observation
        The photos' values, in any order. They are sorted by ``taken_at`` (stable: photos with
        the same time keep their given order). Non-finite values (NaN, +-inf: the quantity could
        not be measured) are dropped: they are neither plotted nor judged.
    settings : SPCSettings
        Reference period, limits and EWMA weight.
    group_kind, group, quantity, unit : str
        Copied into the chart and its events.

    Returns
    -------
    ControlChart
        Without limits (``centre``, ``sigma``, limits and ``reference_end`` None, empty EWMA,
        no events, and ``note`` saying why) when fewer than ``max(settings.min_photos, 2)``
        photos have a value, or the reference period is shorter than that.

    Raises
    ------
    ValueError
        For settings no chart can be drawn with (``reference_photos`` < 2, ``ewma_lambda``
        outside (0, 1], non-positive sigma multiples).

    Notes
    -----
    *Reference period.* The first ``settings.reference_photos`` photos (fewer if the chart has
    fewer). Centre = their mean; sigma = their average moving range / 1.128, the individuals
    chart's short-term sigma [1]_, which a slow drift inside the reference inflates far less
    than the standard deviation does. A constant reference gives sigma 0, raised to
    ``SIGMA_FLOOR * max(1, |centre|)`` so that any later change is an event.

    *Shewhart individuals chart* [1]_: limits centre +- ``shewhart_sigma`` * sigma; a photo
    strictly beyond them is a jump signal.

    *EWMA* [2]_ [3]_, computed over all photos (reference included), each clipped to the
    Shewhart limits (so that one wild photo does not make a drift by itself), from z_0 = centre:
    z_i = lambda x_i + (1 - lambda) z_(i-1), with the exact limits
    centre +- L sigma sqrt(lambda / (2 - lambda) (1 - (1 - lambda)^(2i))), L = ``ewma_sigma``.
    A z strictly beyond them is a drift signal.

    *Events.* Only photos after the reference period are judged (the reference defines
    normal). One auditor row per finding, per direction (up and down are independent):

    1. An EWMA *episode* is a run of consecutive EWMA signals; later runs in the same direction
       are part of the same episode while z has not crossed the centre line in between (the
       EWMA wavering at its limit is one drift, not a dozen). Its change point ``since`` is the
       first photo after z was last on the centre line or its other side before detection,
       never earlier than the first photo after the reference period.
    2. A run of consecutive Shewhart signals that overlaps an episode (from its ``since`` to
       its last signal) in the same direction belongs to that episode's finding, and extends
       it if it ends later. Other Shewhart runs of at least ``shewhart_min_run`` photos are
       findings of their own (a jump that the EWMA, slow by design, did not follow, e.g. a
       swapped lens); a shorter run is left to the photos' own checks.
    3. A finding is named after the rule that signalled first; a photo beyond both limits
       counts as a jump (``shewhart``). A jump's ``since`` and ``detected_at`` are its first
       signalled photo; an EWMA finding's ``detected_at`` is its first EWMA signal and its
       ``since`` the change point of step 1.
    4. ``photos`` run from ``since`` to the finding's last signalled photo; ``size`` is their
       mean value minus the centre, ``size_sigma`` that divided by sigma.

    Events are in order of detection. The function is pure and O(n) apart from the sort.

    References
    ----------
    .. [1] D. C. Montgomery, *Introduction to Statistical Quality Control*, 8th ed., Wiley,
       2019, ch. 6 (individuals chart) and ch. 9 (EWMA).
    .. [2] S. W. Roberts, "Control chart tests based on geometric moving averages",
       *Technometrics* 1(3), 239-250, 1959.
    .. [3] J. M. Lucas and M. S. Saccucci, "Exponentially weighted moving average control
       schemes: properties and enhancements", *Technometrics* 32(1), 1-12, 1990.
    """
    _check_settings(settings)
    ordered = sorted(observations, key=lambda o: o.taken_at)
    kept = [o for o in ordered if math.isfinite(float(o.value))]
    dropped = len(ordered) - len(kept)
    photos = tuple(o.photo for o in kept)
    taken_at = tuple(o.taken_at for o in kept)
    values = np.array([float(o.value) for o in kept], dtype=float)
    n = len(kept)
    n_reference = min(settings.reference_photos, n)
    needed = max(settings.min_photos, 2)

    def chart(**fields) -> ControlChart:
        return ControlChart(group_kind=group_kind, group=group, quantity=quantity, unit=unit, photos=photos,
                            taken_at=taken_at, values=tuple(values.tolist()), **fields)

    if n < needed or n_reference < needed:
        counted = f"{n} photo{'' if n == 1 else 's'}"
        if dropped:
            counted += f" with a value ({dropped} without)"
        if n < needed:
            note = f"{counted}: at least {needed} are needed to set limits"
        else:
            note = (f"the reference period is {n_reference} photos (reference_photos): at least {needed} "
                    f"are needed to set limits")
        return chart(centre=None, sigma=None, reference_end=None, lower_limit=None, upper_limit=None,
                     ewma=(), ewma_lower=(), ewma_upper=(), events=(), note=note)

    reference = values[:n_reference]
    centre = float(reference.mean())
    sigma = float(np.abs(np.diff(reference)).mean()) / D2_MOVING_RANGE
    sigma = max(sigma, SIGMA_FLOOR * max(1.0, abs(centre)))
    lower = centre - settings.shewhart_sigma * sigma
    upper = centre + settings.shewhart_sigma * sigma

    lam = settings.ewma_lambda
    # Each photo enters the EWMA clipped to the Shewhart limits (a Huber-type bound): one wild
    # photo cannot raise a drift alone, two in a row can (as a jump of shewhart_min_run).
    z = _ewma(np.clip(values, lower, upper), centre, lam)
    i = np.arange(1, n + 1, dtype=float)
    half_width = settings.ewma_sigma * sigma * np.sqrt(lam / (2.0 - lam) * (1.0 - (1.0 - lam) ** (2.0 * i)))
    ewma_lower, ewma_upper = centre - half_width, centre + half_width

    events = []
    for rule, direction, since, detected, last in _findings(values, z, ewma_lower, ewma_upper, lower, upper,
                                                            centre, n_reference, settings.shewhart_min_run):
        size = float(values[since:last + 1].mean()) - centre
        events.append(DriftEvent(group_kind=group_kind, group=group, quantity=quantity, unit=unit, rule=rule,
                                 direction=direction, since=taken_at[since], detected_at=taken_at[detected],
                                 size=size, size_sigma=size / sigma, photos=photos[since:last + 1]))
    return chart(centre=centre, sigma=sigma, reference_end=taken_at[n_reference - 1], lower_limit=lower,
                 upper_limit=upper, ewma=tuple(z.tolist()), ewma_lower=tuple(ewma_lower.tolist()),
                 ewma_upper=tuple(ewma_upper.tolist()), events=tuple(events))
