"""The review read-side (photostation.review) and the Streamlit app over it (AppTest)."""
from __future__ import annotations

import shutil

import pytest
from streamlit.testing.v1 import AppTest

from photostation import review
from photostation.errors import InputError
from photostation.ingest import ingest_archive
from photostation.ledger import open_ledger

from .conftest import NOW, REALDATA, ROOT

HDR = REALDATA / "jpg" / "hdr"


@pytest.fixture
def ledger(tmp_path, protocol):
    root = tmp_path / "archive"
    for visit, suffix in (("baseline", "NO"), ("month-6", "YES")):
        (root / "P001" / visit).mkdir(parents=True)
        shutil.copy(HDR / f"canon_hdr_{suffix}.jpg", root / "P001" / visit / "vertex.jpg")
    (root / "manifest.csv").write_text("patient,visit,view,operator,station,site,visit_date\n"
                                       "P001,baseline,,op-anna,station-1,,2015-02-09\n")
    db = tmp_path / "ledger.db"
    factory = open_ledger(str(db))
    ingest_archive(root, factory, protocol, now=NOW)
    return factory, db, root


def test_visits_photos_flags_and_reviews(ledger):
    factory, _, root = ledger
    visits = review.list_visits(factory)
    assert [(v.patient, v.visit) for v in visits] == [("P001", "baseline"), ("P001", "month-6")]
    assert visits[0].operator == "op-anna" and visits[0].station == "station-1"
    assert review.archive_root(factory) == root.resolve()
    month6 = visits[1]
    assert month6.verdict == "fail"  # shutter 1.7 stops off the baseline
    (photo_id, view, verdict), = review.photos_of_visit(factory, month6.visit_id)
    detail = review.photo_detail(factory, photo_id)
    assert detail.view == "vertex" and detail.verdict == verdict == "fail"
    assert any(c.name == "camera.exposure_time_s" and c.status == "fail" for c in detail.checks)
    flags = review.open_flags(factory)
    assert flags[0].status == "fail"
    assert any(f.name == "camera.exposure_time_s" and f.visit == "month-6" for f in flags)
    review.add_review(factory, photo_id, "AB", "clinician", "retake", "shutter changed")
    assert [(r.reviewer, r.decision) for r in review.photo_detail(factory, photo_id).reviews] == [("AB", "retake")]
    with pytest.raises(InputError, match="role must be one of"):
        review.add_review(factory, photo_id, "AB", "patient", "accept")
    with pytest.raises(InputError, match="no photo with id"):
        review.add_review(factory, 9999, "AB", "auditor", "accept")


def test_streamlit_app_shows_visits_and_saves_a_review(ledger, monkeypatch):
    factory, db, _ = ledger
    monkeypatch.setenv("PHOTOSTATION_DB", f"sqlite:///{db}")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    assert not at.exception
    assert at.title[0].value == "Visits"
    table = at.dataframe[0].value
    assert list(table["visit"]) == ["baseline", "month-6"]
    at.selectbox(key="visit").select_index(1).run()
    assert "fail" in at.subheader[0].value
    at.text_input(key="reviewer").input("AB")
    at.selectbox(key="role").set_value("clinician")
    at.selectbox(key="decision").set_value("retake")
    at.button[0].click().run()
    assert not at.exception
    assert at.success and "retake by AB" in at.success[0].value
    photo_id = review.photos_of_visit(factory, review.list_visits(factory)[1].visit_id)[0][0]
    assert review.photo_detail(factory, photo_id).reviews[0].decision == "retake"
    at.radio(key="page").set_value("Audit flags").run()
    assert at.title[0].value == "Audit flags" and not at.exception
    assert int(at.metric[0].value) == len(review.open_flags(factory))


def test_streamlit_app_reports_a_bad_database_url(monkeypatch, tmp_path):
    monkeypatch.setenv("PHOTOSTATION_DB", str(tmp_path / "no" / "such" / "dir" / "x.db"))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    assert not at.exception
    assert "does not exist" in at.error[0].value
    # A path to a ledger that does not exist is an error, not a new empty database.
    monkeypatch.setenv("PHOTOSTATION_DB", str(tmp_path / "typo.db"))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    assert "no ledger at" in at.error[0].value and not (tmp_path / "typo.db").exists()


def test_streamlit_app_measures_a_trichoscopy_photo(tmp_path, protocol, monkeypatch):
    root = tmp_path / "archive"
    (root / "P001" / "baseline").mkdir(parents=True)
    shutil.copy(ROOT / "sample_images" / "P001" / "baseline" / "tricho-vertex.jpg", root / "P001" / "baseline")
    db = tmp_path / "ledger.db"
    ingest_archive(root, open_ledger(str(db)), protocol, now=NOW)
    monkeypatch.setenv("PHOTOSTATION_DB", f"sqlite:///{db}")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    assert not at.exception
    at.toggle(key="measure_on").set_value(True).run()
    # The sample photos hold no card: without a scale the close-up cannot be measured, and says why.
    assert not at.exception and "no scale" in at.error[0].value
    at.number_input(key="measure_scale").set_value(0.006247).run()
    assert not at.exception and not at.error
    figures, = [d.value for d in at.dataframe if "figure" in d.value.columns]
    values = dict(zip(figures["figure"], figures["value"]))
    from pipelines.measure import measure_photo
    expected = measure_photo(root / "P001" / "baseline" / "tricho-vertex.jpg", protocol, mm_per_px=0.006247).to_json()
    assert values["hair_count"] == expected["hair_count"] > 0
    assert values["density_per_cm2"] == pytest.approx(expected["density_per_cm2"])


@pytest.fixture
def tricho_pair_ledger(tmp_path, protocol, monkeypatch):
    """A ledger of the sample P001 tricho-vertex pair, served to the app."""
    root = tmp_path / "archive"
    for visit in ("baseline", "month-6"):
        (root / "P001" / visit).mkdir(parents=True)
        shutil.copy(ROOT / "sample_images" / "P001" / visit / "tricho-vertex.jpg", root / "P001" / visit)
    db = tmp_path / "ledger.db"
    factory = open_ledger(str(db))
    ingest_archive(root, factory, protocol, now=NOW)
    monkeypatch.setenv("PHOTOSTATION_DB", f"sqlite:///{db}")
    return factory


def test_streamlit_compare_stores_the_result_and_shows_it_without_recomputing(tricho_pair_ledger):
    from photostation.ledger import ComparisonRecord

    factory = tricho_pair_ledger
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
    at.run()
    at.radio(key="page").set_value("Compare").run()
    assert not at.exception and "Not compared yet" in at.info[0].value
    at.number_input(key="compare_scale").set_value(0.006247).run()
    at.button(key="compare_run").click().run()
    assert not at.exception
    assert at.success and "Comparable (trichoscopy" in at.success[0].value
    assert any("Density change:" in m.value for m in at.markdown)
    assert not at.json  # the change in words, not a raw JSON dump
    with factory() as session:
        (record,) = session.query(ComparisonRecord).all()
        computed = record.computed_at
    # A new session shows the stored result: nothing is recomputed.
    again = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    again.run()
    again.radio(key="page").set_value("Compare").run()
    assert not again.exception and again.success and "Comparable" in again.success[0].value
    assert again.button(key="compare_run").label == "Compare again"
    with factory() as session:
        assert session.query(ComparisonRecord).one().computed_at == computed


def test_streamlit_compare_of_a_pair_that_is_not_comparable_shows_no_figures(ledger, monkeypatch):
    # The HDR pair: another shutter speed at month 6, and the photos are no scalp.
    factory, db, _ = ledger
    monkeypatch.setenv("PHOTOSTATION_DB", f"sqlite:///{db}")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
    at.run()
    at.radio(key="page").set_value("Compare").run()
    at.button(key="compare_run").click().run()
    assert not at.exception
    assert at.error and "Not comparable" in at.error[0].value
    assert not at.dataframe and not at.success


def test_streamlit_compare_refuses_an_implausible_scale_and_stores_nothing(tricho_pair_ledger):
    from photostation.ledger import ComparisonRecord

    factory = tricho_pair_ledger
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    at.radio(key="page").set_value("Compare").run()
    at.number_input(key="compare_scale").set_value(5.0).run()  # 5 mm per pixel: a typo for 0.005
    at.button(key="compare_run").click().run()
    assert not at.exception and "not a plausible scale" in at.error[0].value
    assert not at.success
    with factory() as session:
        assert session.query(ComparisonRecord).count() == 0
