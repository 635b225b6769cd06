"""A clinician's correction of a stored comparison's hair counts: false hairs removed and
missed hairs added on either photo, the figures recomputed from them, and the ledger rows.

The automatic figures are never changed: a correction is a new row of ``hair_corrections``
(append-only) beside the stored comparison, and the newest row whose photo fingerprints equal
the stored comparison's is the one in force. A correction made against photos that have since
changed, or a comparison made again, simply stops being in force.
"""
from __future__ import annotations

import datetime as dt
import math
import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from photostation import trail
from photostation.errors import InputError
from photostation.ledger import ComparisonHairs, ComparisonRecord, HairCorrection, Photo
from pipelines.change import ChangeEstimate, outcome
from pipelines.hair_pair import COUNT_RELATIVE_ERROR, map_points

ROLES = ("clinician", "auditor")
"""Who may correct a count."""

COUNTING_DRAWS = 4000
"""Gamma draws of the counting interval (seed 0: the same edits give the same interval)."""

SIDES = ("baseline", "followup")
_SIDE_WORDS = {"baseline": "baseline", "followup": "follow-up"}


def _index(value: Any) -> int:
    if isinstance(value, bool):  # True is an int to Python, never a hair number
        raise InputError(f"a removed hair must be given by its number, not {value!r}")
    try:
        index = operator.index(value)
    except TypeError:
        raise InputError(f"a removed hair must be given by its number, not {value!r}") from None
    if index < 0:
        raise InputError(f"hair numbers start at 0, not {index}")
    return index


def _point(value: Any) -> tuple[float, float]:
    try:
        x, y = (float(v) for v in value)
    except (TypeError, ValueError):
        raise InputError(f"an added hair must be a point [x, y] in pixels, not {value!r}") from None
    if not (math.isfinite(x) and math.isfinite(y)):
        raise InputError(f"an added hair's point must be finite, not [{x}, {y}]")
    return x, y


@dataclass(frozen=True)
class SideEdits:
    """One photo's edits: ``removed`` hair numbers (indexes into that photo's stored hair
    list), ``added`` missed hairs as ``(x, y)`` in that photo's file pixels."""

    removed: tuple[int, ...] = ()
    added: tuple[tuple[float, float], ...] = ()

    def __post_init__(self) -> None:
        removed = [_index(i) for i in self.removed]
        twice = sorted({i for i in removed if removed.count(i) > 1})
        if twice:
            raise InputError(f"hair #{twice[0]} is removed twice")
        object.__setattr__(self, "removed", tuple(sorted(removed)))
        object.__setattr__(self, "added", tuple(_point(p) for p in self.added))


@dataclass(frozen=True)
class HairEdits:
    """The edits of both photos of a comparison (empty: the automatic count stands)."""

    baseline: SideEdits = field(default_factory=SideEdits)
    followup: SideEdits = field(default_factory=SideEdits)

    def __post_init__(self) -> None:
        for side in SIDES:
            if not isinstance(getattr(self, side), SideEdits):
                raise InputError(f"{side} edits must be SideEdits, not {type(getattr(self, side)).__name__}")

    def to_json(self) -> dict[str, dict[str, list]]:
        """``{"baseline": {"removed": [i, ...], "added": [[x, y], ...]}, "followup": {...}}``
        (fresh lists: the caller may change them)."""
        return {side: {"removed": list(getattr(self, side).removed),
                       "added": [[x, y] for x, y in getattr(self, side).added]} for side in SIDES}

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> HairEdits:
        """Read the form of :meth:`to_json`; a missing side or list is empty.

        Raises
        ------
        InputError
            Unknown keys, a hair number that is not a whole number >= 0 or is given twice, or a
            point that is not two finite numbers.
        """
        data = data or {}
        if not isinstance(data, Mapping):
            raise InputError("hair edits must be {'baseline': {...}, 'followup': {...}}")
        unknown = sorted(set(data) - set(SIDES))
        if unknown:
            raise InputError(f"hair edits: unknown photo {unknown[0]!r} (give baseline and followup)")
        sides = {}
        for side in SIDES:
            part = data.get(side) or {}
            if not isinstance(part, Mapping) or set(part) - {"removed", "added"}:
                raise InputError(f"hair edits: {side} must be {{'removed': [...], 'added': [...]}}")
            removed, added = part.get("removed") or [], part.get("added") or []
            if not isinstance(removed, (list, tuple)) or not isinstance(added, (list, tuple)):
                raise InputError(f"hair edits: {side} removed and added must be lists")
            try:
                sides[side] = SideEdits(tuple(removed), tuple(added))
            except InputError as exc:
                raise InputError(f"{_SIDE_WORDS[side]}: {exc}") from None
        return cls(**sides)

    @property
    def empty(self) -> bool:
        """No hair removed or added."""
        return not any(getattr(self, s).removed or getattr(self, s).added for s in SIDES)

    def check(self, baseline_hairs: int, followup_hairs: int, baseline_size: tuple[int, int] | None = None,
              followup_size: tuple[int, int] | None = None) -> None:
        """Check the edits against the stored hair lists and the photos' sizes.

        Parameters
        ----------
        baseline_hairs, followup_hairs : int
            Length of each photo's stored hair list.
        baseline_size, followup_size : tuple of int, optional
            ``(width, height)`` of each file; added points must lie inside it when given.

        Raises
        ------
        InputError
            A removed hair number beyond the list, or an added point outside the photo.
        """
        for side, count, size in (("baseline", baseline_hairs, baseline_size),
                                  ("followup", followup_hairs, followup_size)):
            edits, words = getattr(self, side), _SIDE_WORDS[side]
            beyond = [i for i in edits.removed if i >= count]
            if beyond:
                listed = f"#0-#{count - 1}" if count else "none"
                raise InputError(f"{words}: there is no hair #{beyond[0]} to remove ({count} hairs: {listed})")
            if size is not None:
                width, height = size
                for number, (x, y) in enumerate(edits.added, start=1):
                    if not (0 <= x < width and 0 <= y < height):
                        raise InputError(f"{words}: added hair +{number} at ({x:.0f}, {y:.0f}) is outside the photo "
                                         f"({width} x {height} pixels)")


@dataclass(frozen=True)
class CorrectionRow:
    """A stored correction."""

    id: int
    edits: HairEdits
    result: dict[str, Any]
    """:func:`corrected_figures` as saved."""
    reviewer: str
    role: str
    created_at: dt.datetime
    """UTC, naive (as the ledger stores times)."""
    current: bool = True
    """Made against the stored comparison (its photo fingerprints are the comparison's)."""


def _hair_lists(hairs: Mapping[str, Any] | Sequence[Any]) -> tuple[list, list]:
    if isinstance(hairs, Mapping):
        return list(hairs.get("baseline") or []), list(hairs.get("followup") or [])
    baseline, followup = hairs
    return list(baseline), list(followup)


def _common_area_check(result: Mapping[str, Any], edits: HairEdits, sizes) -> None:
    """Added hairs must lie where both photos show the scalp: hairs elsewhere are not counted.
    In a close-up the common area is where the two frames overlap (:mod:`pipelines.compare`
    trims a few pixels more at its edge, which this does not)."""
    matrix = (result.get("registration") or {}).get("matrix")
    if matrix is None or sizes is None or sizes[0] is None or sizes[1] is None:
        return
    to_base = np.asarray(matrix, float)
    other = {"baseline": (np.linalg.inv(to_base), sizes[1]), "followup": (to_base, sizes[0])}
    for side in SIDES:
        added = getattr(edits, side).added
        if not added:
            continue
        matrix_to_other, (width, height) = other[side]
        mapped = map_points(np.array(added, float), matrix_to_other)
        for number, ((x, y), (mx, my)) in enumerate(zip(added, mapped), start=1):
            if not (0 <= mx < width and 0 <= my < height):
                raise InputError(f"{_SIDE_WORDS[side]}: added hair +{number} at ({x:.0f}, {y:.0f}) lies outside the "
                                 "area both photos show, where no hair is counted")


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None or not math.isfinite(value) else round(float(value), digits)


def corrected_figures(result: Mapping[str, Any], hairs: Mapping[str, Any] | Sequence[Any], edits: HairEdits,
                      threshold_per_cm2: float, *, sizes: tuple[tuple[int, int] | None, tuple[int, int] | None]
                      | None = None) -> dict[str, Any]:
    """The counts, densities, change, interval and outcome of a comparison after the edits.

    The counts are the automatic ones minus the hairs removed plus those added. The change is
    the automatic change (new minus lost hairs over the common area,
    :func:`pipelines.compare.compare_pair`) moved by each edit: removing a baseline hair or
    adding a follow-up hair raises it by ``1 / area_cm2``, removing a follow-up hair or adding
    a baseline hair lowers it by as much. (It is not the difference of the corrected counts:
    the automatic matching counts a hair that one photo's detector missed but whose shaft
    shows in that photo as neither lost nor new.)

    The 95 % interval is an approximation: the automatic one came from a tile bootstrap, and
    the tiles' areas are not stored, so it cannot be rerun. Instead the automatic interval is
    shifted by the correction (corrected minus automatic change), then, at each end, widened
    to at least (a) the counting interval of the corrected numbers of new and lost hairs
    (difference of Jeffreys Gamma(k + 1/2) draws, as :func:`pipelines.change.bootstrap_rate_change`,
    seed 0) and (b) the detector's relative error :data:`pipelines.hair_pair.COUNT_RELATIVE_ERROR`
    times the corrected change. Matched pairs are not stored, so a removed matched hair is
    taken to leave its partner unpaired and an added hair to be unpaired: this can only
    overstate the new and lost counts, so (a) errs wide. The shifted interval keeps the spread
    of the automatic hairs across the field; where the edited hairs lie is not resampled, so
    for many edits clustered in one place the interval may be too narrow.

    Parameters
    ----------
    result : dict
        The stored comparison (``compare --json`` without the hair lists).
    hairs : dict or tuple
        The stored hair lists, ``{"baseline": [...], "followup": [...]}`` or ``(baseline, followup)``.
    edits : HairEdits
    threshold_per_cm2 : float
        The protocol's density change threshold of the outcome
        (``protocol.compare.density_change_threshold_per_cm2``).
    sizes : tuple, optional
        ``((width, height), (width, height))`` of the baseline and follow-up files, or None
        each where unknown: added hairs must lie inside the photo and in the common area.

    Returns
    -------
    dict
        ``baseline_hair_count``, ``followup_hair_count``, ``baseline_density_per_cm2``,
        ``followup_density_per_cm2``, ``density_change_per_cm2``, ``density_change_pct``,
        ``ci95_density_per_cm2`` [low, high], ``outcome``, ``new``, ``lost`` (as used for the
        counting interval), ``area_cm2``, ``threshold_per_cm2``, ``edits`` (numbers removed and
        added per photo), ``interval`` (how it was made, in words) and ``automatic`` (the same
        figures as the comparison stored them).

    Raises
    ------
    InputError
        The comparison is not comparable, gives no hair count (global view or long hair) or
        no area, the hair lists do not belong to it, or the edits do not fit the lists.
    """
    if not isinstance(edits, HairEdits):
        raise InputError(f"edits must be HairEdits, not {type(edits).__name__}")
    threshold = float(threshold_per_cm2)
    if not (math.isfinite(threshold) and threshold >= 0):
        raise InputError(f"the density change threshold must be a number >= 0, not {threshold_per_cm2!r}")
    if not result.get("comparable"):
        raise InputError("this pair is not comparable: there is no count to correct")
    base, follow, change = result.get("baseline") or {}, result.get("followup") or {}, result.get("change") or {}
    if result.get("view") != "trichoscopy" or base.get("hair_count") is None or follow.get("hair_count") is None:
        raise InputError("this comparison gives no hair count (a global view, or long hair): there is nothing to "
                         "correct")
    area_cm2 = base.get("area_cm2")
    if not area_cm2 or area_cm2 <= 0:
        raise InputError("this comparison has no measured area in cm² (no scale): densities cannot be corrected")
    if change.get("density_per_cm2") is None or change.get("ci95_density_per_cm2") is None:
        raise InputError("this comparison gives no density change: there is nothing to correct")
    base_hairs, follow_hairs = _hair_lists(hairs)
    if len(base_hairs) != base["hair_count"] or len(follow_hairs) != follow["hair_count"]:
        raise InputError("the stored hair lists do not match the comparison's counts: compare again first")
    edits.check(len(base_hairs), len(follow_hairs), *(sizes or (None, None)))
    _common_area_check(result, edits, sizes)

    def status_count(listed: list, status: str, among=None) -> int:
        return sum(1 for i, hair in enumerate(listed) if hair.get("status") == status and (among is None or i in among))

    b, f = edits.baseline, edits.followup
    # The matching's own numbers when stored (a detection may stand for several hairs).
    auto_new = change["new"] if change.get("new") is not None else status_count(follow_hairs, "new")
    auto_lost = change["lost"] if change.get("lost") is not None else status_count(base_hairs, "lost")
    # Unpaired after the edits (see the docstring: never fewer than the truth).
    new = max(0, auto_new - status_count(follow_hairs, "new", set(f.removed))
              + status_count(base_hairs, "matched", set(b.removed)) + len(f.added))
    lost = max(0, auto_lost - status_count(base_hairs, "lost", set(b.removed))
               + status_count(follow_hairs, "matched", set(f.removed)) + len(b.added))
    base_count = base["hair_count"] - len(b.removed) + len(b.added)
    follow_count = follow["hair_count"] - len(f.removed) + len(f.added)
    follow_area = follow.get("area_cm2") or area_cm2
    shift = ((follow_count - follow["hair_count"]) - (base_count - base["hair_count"])) / area_cm2
    auto_value = float(change["density_per_cm2"])
    value = auto_value + shift
    low, high = (float(v) + shift for v in change["ci95_density_per_cm2"])
    rng = np.random.default_rng(0)
    counted = rng.gamma(new + 0.5, size=COUNTING_DRAWS) - rng.gamma(lost + 0.5, size=COUNTING_DRAWS)
    c_low, c_high = np.percentile(counted / area_cm2, [2.5, 97.5])
    spread = COUNT_RELATIVE_ERROR * abs(value)
    low, high = min(low, float(c_low), value - spread), max(high, float(c_high), value + spread)
    corrected_outcome = outcome(ChangeEstimate(value, (low, high)), threshold)
    base_rate = base_count / area_cm2
    figures = {
        "baseline_hair_count": base_count, "followup_hair_count": follow_count,
        "baseline_density_per_cm2": _round(base_rate), "followup_density_per_cm2": _round(follow_count / follow_area),
        "density_change_per_cm2": _round(value),
        "density_change_pct": _round(100.0 * value / base_rate) if base_rate else None,
        "ci95_density_per_cm2": [_round(low), _round(high)], "outcome": corrected_outcome,
        "new": new, "lost": lost, "area_cm2": area_cm2, "threshold_per_cm2": threshold,
        "edits": {f"{side}_{kind}": len(getattr(getattr(edits, side), kind)) for side in SIDES
                  for kind in ("removed", "added")},
        "interval": "the automatic interval shifted by the correction, at least the counting interval of the "
                    f"corrected new and lost hairs and {100 * COUNT_RELATIVE_ERROR:.0f} % of the change",
    }
    figures["automatic"] = {
        "baseline_hair_count": base["hair_count"], "followup_hair_count": follow["hair_count"],
        "baseline_density_per_cm2": base.get("density_per_cm2"),
        "followup_density_per_cm2": follow.get("density_per_cm2"),
        "density_change_per_cm2": change["density_per_cm2"], "density_change_pct": change.get("density_pct"),
        "ci95_density_per_cm2": list(change["ci95_density_per_cm2"]), "outcome": change.get("outcome"),
        "new": auto_new, "lost": auto_lost,
    }
    return figures


def _reviewer(reviewer: str | None, role: str) -> str:
    reviewer = (reviewer or "").strip()
    if not reviewer or len(reviewer) > 200:
        raise InputError("reviewer: give staff initials or an ID (1-200 characters)")
    if role not in ROLES:
        raise InputError(f"role must be one of {', '.join(ROLES)}")
    return reviewer


def _size(photo: Photo) -> tuple[int, int] | None:
    return (photo.width, photo.height) if photo.width and photo.height else None


def _row(row: HairCorrection, record: ComparisonRecord | None) -> CorrectionRow:
    current = (record is not None and row.baseline_digest == record.baseline_digest
               and row.followup_digest == record.followup_digest)
    return CorrectionRow(row.id, HairEdits.from_json(row.edits), dict(row.result), row.reviewer, row.role,
                         row.created_at, current)


def _comparison(session: Session, followup_photo_id: int) -> ComparisonRecord | None:
    return session.scalar(select(ComparisonRecord).where(ComparisonRecord.followup_photo_id == followup_photo_id))


def save_correction(factory: sessionmaker[Session], followup_photo_id: int, edits: HairEdits, reviewer: str,
                    role: str, threshold_per_cm2: float) -> CorrectionRow:
    """Store a correction of a follow-up photo's stored comparison (a new row, always).

    Parameters
    ----------
    factory : sessionmaker
        The ledger (:func:`photostation.ledger.open_ledger`).
    followup_photo_id : int
    edits : HairEdits
        Empty edits are saved too: that is how the automatic count is restored after a
        correction (the newest row is in force).
    reviewer : str
        Staff initials or ID, 1-200 characters.
    role : {"clinician", "auditor"}
    threshold_per_cm2 : float
        The protocol's density change threshold.

    Returns
    -------
    CorrectionRow

    Raises
    ------
    InputError
        No stored comparison; a photo changed since it was stored, or its hair lists are of
        another comparison (compare again first); a bad reviewer or role; edits that do not
        fit (:func:`corrected_figures`).
    """
    reviewer = _reviewer(reviewer, role)
    if not isinstance(edits, HairEdits):
        raise InputError(f"edits must be HairEdits, not {type(edits).__name__}")

    def write(session: Session) -> CorrectionRow:
        record = _comparison(session, followup_photo_id)
        if record is None or record.result is None:
            raise InputError("nothing to correct: this photo has no stored comparison (compare first)")
        base, follow = session.get(Photo, record.baseline_photo_id), session.get(Photo, followup_photo_id)
        if base is None or follow is None or base.digest != record.baseline_digest \
                or follow.digest != record.followup_digest:
            raise InputError("a photo changed since this comparison was stored: compare again first")
        hairs = session.get(ComparisonHairs, followup_photo_id)
        if hairs is None or hairs.baseline_digest != record.baseline_digest \
                or hairs.followup_digest != record.followup_digest:
            raise InputError("the stored hair lists are not this comparison's: compare again first")
        figures = corrected_figures(record.result, {"baseline": hairs.baseline, "followup": hairs.followup}, edits,
                                    threshold_per_cm2, sizes=(_size(base), _size(follow)))
        # The digests are the comparison's as read in this transaction: if the audit stores a
        # new comparison meanwhile, this row is simply not in force against it.
        row = HairCorrection(followup_photo_id=followup_photo_id, baseline_digest=record.baseline_digest,
                             followup_digest=record.followup_digest, edits=edits.to_json(), result=figures,
                             reviewer=reviewer, role=role)
        session.add(row)
        session.flush()
        trail.append(session, "correction", row)  # chained in the same transaction: both or neither
        return _row(row, record)

    return trail.transaction(factory, write)


def correction_history(factory: sessionmaker[Session], followup_photo_id: int) -> list[CorrectionRow]:
    """Every correction of a follow-up photo's comparisons, oldest first; ``current`` says
    which were made against the stored comparison."""
    with factory() as session:
        record = _comparison(session, followup_photo_id)
        rows = session.scalars(select(HairCorrection).where(HairCorrection.followup_photo_id == followup_photo_id)
                               .order_by(HairCorrection.created_at, HairCorrection.id))
        return [_row(row, record) for row in rows]


def current_correction(factory: sessionmaker[Session], followup_photo_id: int) -> CorrectionRow | None:
    """The correction in force: the newest made against the stored comparison, or None."""
    with factory() as session:
        record = _comparison(session, followup_photo_id)
        if record is None:
            return None
        row = session.scalar(select(HairCorrection)
                             .where(HairCorrection.followup_photo_id == followup_photo_id,
                                    HairCorrection.baseline_digest == record.baseline_digest,
                                    HairCorrection.followup_digest == record.followup_digest)
                             .order_by(HairCorrection.created_at.desc(), HairCorrection.id.desc()).limit(1))
        return None if row is None else _row(row, record)


def stored_hairs(factory: sessionmaker[Session], followup_photo_id: int) -> tuple[list, list] | None:
    """The stored comparison's hair lists (baseline, follow-up), each hair as
    :func:`pipelines.compare.hair_entries`; None when there is no stored comparison result or
    the lists are of another comparison."""
    with factory() as session:
        record = _comparison(session, followup_photo_id)
        hairs = session.get(ComparisonHairs, followup_photo_id)
        if record is None or record.result is None or hairs is None or \
                hairs.baseline_digest != record.baseline_digest or hairs.followup_digest != record.followup_digest:
            return None
        return list(hairs.baseline or []), list(hairs.followup or [])
