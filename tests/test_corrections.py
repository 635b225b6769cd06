"""Clinicians' corrections of a stored comparison's hair counts (pipelines/corrections.py), on
a tiny ledger filled directly with a comparison and its hair lists."""
from __future__ import annotations

import copy

import numpy as np
import pytest

from photostation.errors import InputError
from photostation.ledger import (ComparisonHairs, ComparisonRecord, HairCorrection, Patient, Photo, Visit,
                                 open_ledger)
from pipelines.change import ChangeEstimate, outcome
from pipelines.corrections import (HairEdits, SideEdits, corrected_figures, correction_history, current_correction,
                                   save_correction, stored_hairs)
from pipelines.hair_pair import COUNT_RELATIVE_ERROR

AREA_CM2 = 0.5
THRESHOLD = 10.0
SIZE = (1600, 1200)
SHIFT_PX = 100.0  # follow-up (x, y) -> baseline (x + 100, y)


def hair(x, y, status):
    return {"root": [x, y], "direction_deg": 90.0, "length_um": 500.0, "width_um": 70.0, "unit": 0, "fine": False,
            "status": status}


def pair_data(lost=4, new=3, matched=30):
    """A stored comparison's result (``compare --json`` without hairs) and its hair lists."""
    rng = np.random.default_rng(1)
    base = [hair(*map(float, rng.uniform(200, 1000, 2)), "matched") for _ in range(matched)]
    base += [hair(*map(float, rng.uniform(200, 1000, 2)), "lost") for _ in range(lost)]
    follow = [hair(*map(float, rng.uniform(200, 1000, 2)), "matched") for _ in range(matched)]
    follow += [hair(*map(float, rng.uniform(200, 1000, 2)), "new") for _ in range(new)]
    value = (new - lost) / AREA_CM2
    ci = [value - 9.0, value + 8.0]
    side = {"area_px": 100000, "area_cm2": AREA_CM2, "coverage_pct": 20.0}
    result = {
        "registration": {"matrix": [[1.0, 0.0, SHIFT_PX], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]},
        "baseline": side | {"hair_count": len(base), "density_per_cm2": len(base) / AREA_CM2},
        "followup": side | {"hair_count": len(follow), "density_per_cm2": len(follow) / AREA_CM2},
        "change": {"density_per_cm2": value, "density_pct": 100 * value / (len(base) / AREA_CM2),
                   "ci95_density_per_cm2": ci, "outcome": outcome(ChangeEstimate(value, tuple(ci)), THRESHOLD),
                   "coverage_pct_points": None, "ci95_coverage_pct_points": None,
                   "matched": matched, "lost": lost, "new": new},
        "comparable": True, "flags": [], "view": "trichoscopy", "scale": {"mm_per_px": 0.005, "source": "card"},
        "checks": [],
    }
    return result, {"baseline": base, "followup": follow}


@pytest.fixture
def ledger(tmp_path):
    """(factory, follow-up photo id, baseline photo id, result, hairs) of one stored comparison."""
    factory = open_ledger(str(tmp_path / "l.db"))
    result, hairs = pair_data()
    with factory.begin() as session:
        patient = Patient(code="P001")
        session.add(patient)
        session.flush()
        ids = []
        for label in ("baseline", "month-6"):
            visit = Visit(patient_id=patient.id, label=label)
            session.add(visit)
            session.flush()
            photo = Photo(visit_id=visit.id, view="tricho-vertex", relative_path=f"P001/{label}/tricho-vertex.jpg",
                          hash_algorithm="sha256", digest=f"digest-{label}", size_bytes=1, metadata_json={},
                          verdict="pass", width=SIZE[0], height=SIZE[1])
            session.add(photo)
            session.flush()
            ids.append(photo.id)
        base_id, follow_id = ids
        session.add(ComparisonRecord(followup_photo_id=follow_id, baseline_photo_id=base_id,
                                     baseline_digest="digest-baseline", followup_digest="digest-month-6",
                                     rules_fingerprint="r", kind="trichoscopy", comparable=True,
                                     outcome=result["change"]["outcome"], result=result))
        session.add(ComparisonHairs(followup_photo_id=follow_id, baseline_digest="digest-baseline",
                                    followup_digest="digest-month-6", baseline=hairs["baseline"],
                                    followup=hairs["followup"]))
    return factory, follow_id, base_id, result, hairs


def first(hairs, status):
    return next(i for i, h in enumerate(hairs) if h["status"] == status)


def test_removing_a_lost_baseline_hair_raises_the_change_by_one_hair_per_area():
    result, hairs = pair_data()
    lost = first(hairs["baseline"], "lost")
    fixed = corrected_figures(result, hairs, HairEdits(baseline=SideEdits(removed=(lost,))), THRESHOLD)
    auto = result["change"]["density_per_cm2"]
    assert fixed["density_change_per_cm2"] == pytest.approx(auto + 1 / AREA_CM2, abs=1e-3)
    assert fixed["baseline_hair_count"] == result["baseline"]["hair_count"] - 1
    assert fixed["followup_hair_count"] == result["followup"]["hair_count"]
    assert fixed["baseline_density_per_cm2"] == pytest.approx(fixed["baseline_hair_count"] / AREA_CM2, abs=1e-3)
    assert fixed["lost"] == result["change"]["lost"] - 1 and fixed["new"] == result["change"]["new"]
    # The automatic figures beside the corrected ones, unchanged.
    assert fixed["automatic"]["baseline_hair_count"] == result["baseline"]["hair_count"]
    assert fixed["automatic"]["density_change_per_cm2"] == auto
    assert fixed["automatic"]["ci95_density_per_cm2"] == result["change"]["ci95_density_per_cm2"]
    assert fixed["automatic"]["outcome"] == result["change"]["outcome"]
    base_rate = fixed["baseline_hair_count"] / AREA_CM2
    assert fixed["density_change_pct"] == pytest.approx(100 * fixed["density_change_per_cm2"] / base_rate, abs=1e-2)


def test_adding_a_missed_followup_hair_raises_the_change_likewise():
    result, hairs = pair_data()
    fixed = corrected_figures(result, hairs, HairEdits(followup=SideEdits(added=((400.0, 300.0),))), THRESHOLD,
                              sizes=(SIZE, SIZE))
    assert fixed["density_change_per_cm2"] == pytest.approx(result["change"]["density_per_cm2"] + 1 / AREA_CM2,
                                                            abs=1e-3)
    assert fixed["followup_hair_count"] == result["followup"]["hair_count"] + 1
    assert fixed["followup_density_per_cm2"] == pytest.approx(fixed["followup_hair_count"] / AREA_CM2, abs=1e-3)
    # The opposite edits lower it by as much.
    new = first(hairs["followup"], "new")
    lower = corrected_figures(result, hairs, HairEdits(followup=SideEdits(removed=(new,))), THRESHOLD)
    assert lower["density_change_per_cm2"] == pytest.approx(result["change"]["density_per_cm2"] - 1 / AREA_CM2,
                                                             abs=1e-3)


def test_the_corrected_interval_follows_the_change_and_is_reproducible():
    result, hairs = pair_data()
    added = tuple((300.0 + 10 * i, 400.0) for i in range(20))
    edits = HairEdits(followup=SideEdits(added=added))
    fixed = corrected_figures(result, hairs, edits, THRESHOLD)
    value = fixed["density_change_per_cm2"]
    low, high = fixed["ci95_density_per_cm2"]
    shift = len(added) / AREA_CM2
    auto_low, auto_high = result["change"]["ci95_density_per_cm2"]
    assert low <= auto_low + shift + 1e-3 and high >= auto_high + shift - 1e-3
    assert low <= value - COUNT_RELATIVE_ERROR * abs(value) + 1e-3
    assert high >= value + COUNT_RELATIVE_ERROR * abs(value) - 1e-3
    assert fixed["outcome"] == outcome(ChangeEstimate(value, (low, high)), THRESHOLD)
    assert fixed["outcome"] != fixed["automatic"]["outcome"]  # 40 hairs/cm² more is beyond the threshold
    assert corrected_figures(result, hairs, edits, THRESHOLD) == fixed
    # Where the counting interval is narrower than the detector's relative error of the change.
    many = HairEdits(followup=SideEdits(added=tuple((300.0 + i, 400.0) for i in range(200))))
    big = corrected_figures(result, hairs, many, THRESHOLD)
    value = big["density_change_per_cm2"]
    assert big["ci95_density_per_cm2"][0] <= value - COUNT_RELATIVE_ERROR * value + 1e-3
    assert big["ci95_density_per_cm2"][1] >= value + COUNT_RELATIVE_ERROR * value - 1e-3
    # No edits: the automatic change, and an interval at least as wide as the automatic one.
    same = corrected_figures(result, hairs, HairEdits(), THRESHOLD)
    assert same["density_change_per_cm2"] == pytest.approx(result["change"]["density_per_cm2"], abs=1e-3)
    assert same["ci95_density_per_cm2"][0] <= auto_low and same["ci95_density_per_cm2"][1] >= auto_high


def test_comparisons_without_a_count_are_refused():
    result, hairs = pair_data()
    not_comparable = copy.deepcopy(result) | {"comparable": False}
    with pytest.raises(InputError, match="not comparable"):
        corrected_figures(not_comparable, hairs, HairEdits(), THRESHOLD)
    long_hair = copy.deepcopy(result)
    long_hair["baseline"]["hair_count"] = long_hair["followup"]["hair_count"] = None
    with pytest.raises(InputError, match="no hair count"):
        corrected_figures(long_hair, hairs, HairEdits(), THRESHOLD)
    no_area = copy.deepcopy(result)
    no_area["baseline"]["area_cm2"] = None
    with pytest.raises(InputError, match="area"):
        corrected_figures(no_area, hairs, HairEdits(), THRESHOLD)
    fewer = {"baseline": hairs["baseline"][:-1], "followup": hairs["followup"]}
    with pytest.raises(InputError, match="compare again"):
        corrected_figures(result, fewer, HairEdits(), THRESHOLD)


def test_bad_edits_are_refused_with_one_line():
    result, hairs = pair_data()
    count = len(hairs["baseline"])
    with pytest.raises(InputError, match=f"no hair #{count}") as caught:
        corrected_figures(result, hairs, HairEdits(baseline=SideEdits(removed=(count,))), THRESHOLD)
    assert "\n" not in str(caught.value)
    with pytest.raises(InputError, match="twice"):
        HairEdits.from_json({"followup": {"removed": [2, 2]}})
    for bad in ([-1], [1.5], [True], ["3"]):
        with pytest.raises(InputError):
            HairEdits.from_json({"baseline": {"removed": bad}})
    for bad in ([[1.0]], [[float("nan"), 2.0]], [[1, 2, 3]], ["ab"]):
        with pytest.raises(InputError):
            HairEdits.from_json({"baseline": {"added": bad}})
    with pytest.raises(InputError, match="unknown"):
        HairEdits.from_json({"base": {}})
    with pytest.raises(InputError, match="outside the photo"):
        corrected_figures(result, hairs, HairEdits(baseline=SideEdits(added=((SIZE[0] + 5.0, 10.0),))), THRESHOLD,
                          sizes=(SIZE, SIZE))
    # Baseline x below 100 shows no follow-up (it maps to follow-up x < 0): no hair counted there.
    with pytest.raises(InputError, match="both photos"):
        corrected_figures(result, hairs, HairEdits(baseline=SideEdits(added=((50.0, 600.0),))), THRESHOLD,
                          sizes=(SIZE, SIZE))


def test_edits_round_trip_through_json():
    edits = HairEdits(baseline=SideEdits(removed=(5, 2), added=((1.5, 2.5),)), followup=SideEdits(removed=(0,)))
    data = edits.to_json()
    assert data == {"baseline": {"removed": [2, 5], "added": [[1.5, 2.5]]},
                    "followup": {"removed": [0], "added": []}}
    assert HairEdits.from_json(data) == edits
    assert HairEdits.from_json(None).empty and not edits.empty


def test_saving_twice_appends_and_the_newest_is_in_force(ledger):
    factory, follow_id, _, result, hairs = ledger
    assert current_correction(factory, follow_id) is None
    lost = first(hairs["baseline"], "lost")
    one = save_correction(factory, follow_id, HairEdits(baseline=SideEdits(removed=(lost,))), "  AB ", "clinician",
                          THRESHOLD)
    two = save_correction(factory, follow_id, HairEdits(followup=SideEdits(added=((400.0, 300.0),))), "CD",
                          "auditor", THRESHOLD)
    assert one.reviewer == "AB" and two.id != one.id
    history = correction_history(factory, follow_id)
    assert [row.id for row in history] == [one.id, two.id]
    assert all(row.current for row in history)
    now = current_correction(factory, follow_id)
    assert now.id == two.id and now.role == "auditor"
    assert now.edits == two.edits
    assert now.result["followup_hair_count"] == result["followup"]["hair_count"] + 1
    with factory() as session:
        rows = session.query(HairCorrection).order_by(HairCorrection.id).all()
        assert len(rows) == 2
        assert rows[0].result["baseline_hair_count"] == result["baseline"]["hair_count"] - 1  # never updated


def test_of_rows_saved_at_the_same_time_the_last_is_in_force(ledger):
    factory, follow_id, _, _, _ = ledger
    first_row = save_correction(factory, follow_id, HairEdits(), "AB", "clinician", THRESHOLD)
    second = save_correction(factory, follow_id, HairEdits(followup=SideEdits(removed=(0,))), "AB", "clinician",
                             THRESHOLD)
    with factory.begin() as session:
        session.get(HairCorrection, second.id).created_at = first_row.created_at
    assert current_correction(factory, follow_id).id == second.id


@pytest.mark.parametrize("retaken", ["baseline", "followup"])
def test_stale_comparisons_are_refused(ledger, retaken):
    factory, follow_id, base_id, _, hairs = ledger
    assert stored_hairs(factory, follow_id) == (hairs["baseline"], hairs["followup"])
    saved = save_correction(factory, follow_id, HairEdits(), "AB", "clinician", THRESHOLD)
    with factory.begin() as session:
        session.get(Photo, base_id if retaken == "baseline" else follow_id).digest = "digest-retaken"
    with pytest.raises(InputError, match="compare again"):
        save_correction(factory, follow_id, HairEdits(), "AB", "clinician", THRESHOLD)
    # The comparison made again with the new photo: the old correction is no longer in force, and
    # hair lists of the old comparison are not shown with it.
    with factory.begin() as session:
        session.query(ComparisonRecord).filter_by(followup_photo_id=follow_id).update(
            {f"{retaken}_digest": "digest-retaken"})
    assert current_correction(factory, follow_id) is None
    assert [row.current for row in correction_history(factory, follow_id)] == [False]
    assert correction_history(factory, follow_id)[0].id == saved.id
    assert stored_hairs(factory, follow_id) is None
    with pytest.raises(InputError, match="hair lists"):
        save_correction(factory, follow_id, HairEdits(), "AB", "clinician", THRESHOLD)


def test_reviewer_role_and_missing_comparison_are_checked(ledger):
    factory, follow_id, base_id, _, _ = ledger
    for reviewer, role in (("  ", "clinician"), ("x" * 201, "clinician"), ("AB", "patient")):
        with pytest.raises(InputError):
            save_correction(factory, follow_id, HairEdits(), reviewer, role, THRESHOLD)
    with pytest.raises(InputError, match="no stored comparison"):
        save_correction(factory, base_id, HairEdits(), "AB", "clinician", THRESHOLD)
    with pytest.raises(InputError, match="no hair #"):
        save_correction(factory, follow_id, HairEdits(followup=SideEdits(removed=(999,))), "AB", "clinician",
                        THRESHOLD)
    assert correction_history(factory, follow_id) == []
    assert stored_hairs(factory, base_id) is None and current_correction(factory, base_id) is None


def test_a_not_comparable_stored_comparison_cannot_be_corrected(ledger):
    factory, follow_id, _, result, _ = ledger
    with factory.begin() as session:
        record = session.query(ComparisonRecord).filter_by(followup_photo_id=follow_id).one()
        record.result = result | {"comparable": False}
        record.comparable = False
    with pytest.raises(InputError, match="not comparable"):
        save_correction(factory, follow_id, HairEdits(), "AB", "clinician", THRESHOLD)
    assert correction_history(factory, follow_id) == []
