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
    assert "FAIL" in at.subheader[0].value
    at.text_input(key="reviewer").input("AB")
    at.selectbox(key="role").set_value("clinician")
    at.selectbox(key="decision").set_value("retake")
    at.text_area(key="comment").input("shutter changed ![x](https://example.org/pixel.png)")
    at.button[0].click().run()
    assert not at.exception
    assert at.success and "retake by AB" in at.success[0].value
    photo_id = review.photos_of_visit(factory, review.list_visits(factory)[1].visit_id)[0][0]
    assert review.photo_detail(factory, photo_id).reviews[0].decision == "retake"
    # The review trail shows the comment as plain text: a Markdown image is not fetched.
    assert any("shutter changed ![x](https://example.org/pixel.png)" in t.value for t in at.text)
    assert not any("shutter changed" in m.value for m in at.markdown)


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
    at.switch_page("app_pages/compare.py").run()
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
    again.switch_page("app_pages/compare.py").run()
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
    at.switch_page("app_pages/compare.py").run()
    at.button(key="compare_run").click().run()
    assert not at.exception
    assert at.error and "Not comparable" in at.error[0].value
    assert not at.dataframe and not at.success


def test_streamlit_compare_refuses_an_implausible_scale_and_stores_nothing(tricho_pair_ledger):
    from photostation.ledger import ComparisonRecord

    factory = tricho_pair_ledger
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    at.switch_page("app_pages/compare.py").run()
    at.number_input(key="compare_scale").set_value(5.0).run()  # 5 mm per pixel: a typo for 0.005
    at.button(key="compare_run").click().run()
    assert not at.exception and "not a plausible scale" in at.error[0].value
    assert not at.success
    with factory() as session:
        assert session.query(ComparisonRecord).count() == 0


def test_app_refuses_a_file_that_is_not_a_ledger_and_writes_nothing(tmp_path, monkeypatch):
    import sqlite3

    text = tmp_path / "notes.db"
    text.write_text("not a database\n")
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as connection:
        connection.execute("CREATE TABLE invoices (id INTEGER)")
    for path, words in ((text, "is not a database file"), (other, "another program's database")):
        before = path.read_bytes()
        monkeypatch.setenv("PHOTOSTATION_DB", str(path))
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
        at.run()
        assert not at.exception
        assert words in at.error[0].value and "cannot be opened" in at.error[0].value
        assert path.read_bytes() == before
        assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.db", "other.db"]  # no -wal, no -journal


def test_app_reports_an_unreachable_ledger_without_its_password(monkeypatch):
    monkeypatch.setenv("PHOTOSTATION_DB", "postgresql+psycopg://clinic:s3cret@127.0.0.1:9/photostation")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    assert not at.exception
    assert "cannot open the database" in at.error[0].value
    shown = " ".join(e.value for e in at.error) + " ".join(c.value for c in at.sidebar.caption)
    assert "s3cret" not in shown


def test_app_on_an_empty_configured_ledger_says_so(tmp_path, monkeypatch):
    db = tmp_path / "empty.db"
    open_ledger(str(db))
    monkeypatch.setenv("PHOTOSTATION_DB", str(db))
    for page in ("app_pages/visits.py", "app_pages/compare.py", "app_pages/audit.py"):
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
        at.run()
        at.switch_page(page).run()
        assert not at.exception
        assert "empty" in at.info[0].value


def test_first_start_on_the_default_ledger_ingests_the_sample_archive_and_says_so(tmp_path, monkeypatch):
    monkeypatch.delenv("PHOTOSTATION_DB", raising=False)
    monkeypatch.chdir(tmp_path)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    at.run()
    assert not at.exception
    assert "First start" in at.info[0].value and "18 photos" in at.info[0].value
    assert (tmp_path / "photostation.db").is_file()
    copied = tmp_path / "photostation-archive"
    assert sorted(p.name for p in copied.iterdir() if p.is_dir()) == ["P001", "P002", "P003"]
    assert list(at.dataframe[0].value["patient"]).count("P001") == 2
    # The next start (a new server process: no cached first start) finds the photos and neither
    # copies nor says anything again.
    import streamlit as st

    st.cache_resource.clear()
    again = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    again.run()
    assert not again.exception and not any("First start" in i.value for i in again.info)


def test_visits_deep_link_opens_the_photo(ledger, monkeypatch):
    factory, db, _ = ledger
    monkeypatch.setenv("PHOTOSTATION_DB", f"sqlite:///{db}")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.query_params.update(patient="P001", visit="month-6", view="vertex")
    at.run()
    assert not at.exception
    assert at.selectbox(key="visit").value.visit == "month-6"
    assert "FAIL" in at.subheader[0].value
    # By photo id (the Audit page's click-through).
    photo_id = review.photos_of_visit(factory, review.list_visits(factory)[0].visit_id)[0][0]
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.query_params["photo"] = str(photo_id)
    at.run()
    assert not at.exception and at.selectbox(key="visit").value.visit == "baseline"


def _compared(factory, monkeypatch=None):
    """The app on the tricho pair's ledger, compared at the sample renders' scale."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
    at.query_params.update(patient="P001", pair="month-6/tricho-vertex")
    at.run()
    at.switch_page("app_pages/compare.py").run()
    at.number_input(key="compare_scale").set_value(0.006247).run()
    at.button(key="compare_run").click().run()
    assert not at.exception
    return at


def test_compare_views_correction_and_sign_off(tricho_pair_ledger):
    from photostation.ledger import ComparisonRecord, HairCorrection, SignOff

    factory = tricho_pair_ledger
    at = _compared(factory)
    assert [t.label for t in at.tabs] == ["Side by side", "Wipe", "Flicker", "Blend", "Hairs and corrections"]
    with factory() as session:
        automatic = session.query(ComparisonRecord).one().result
    remove = at.multiselect(key="remove_baseline")
    assert len(remove.options) == automatic["baseline"]["hair_count"]
    remove.select(remove.options[0]).run()
    at.radio(key="hairs_side").set_value("followup").run()
    at.button(key="add_followup").click().run()  # a missed hair at the zoom's cross (the photo's centre)
    assert not at.exception
    at.text_input(key="correction_reviewer").input("DR1")
    at.button(key="FormSubmitter:save_correction-Save the corrected count").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    corrected = next(i.value for i in at.info if i.value.startswith("Corrected by DR1"))
    base_auto, follow_auto = automatic["baseline"]["hair_count"], automatic["followup"]["hair_count"]
    assert f"baseline {base_auto - 1} hairs (automatic {base_auto})" in corrected
    assert f"follow-up {follow_auto + 1} (automatic {follow_auto})" in corrected
    with factory() as session:
        (row,) = session.query(HairCorrection).all()
        assert row.reviewer == "DR1" and row.edits["baseline"]["removed"] == [0]
        assert len(row.edits["followup"]["added"]) == 1
        # One hair fewer at baseline and one more at follow-up: the change rises by 2 / area.
        area = automatic["baseline"]["area_cm2"]
        assert row.result["density_change_per_cm2"] == pytest.approx(
            automatic["change"]["density_per_cm2"] + 2 / area, abs=1e-3)
        # The automatic figures stay as they were.
        assert session.query(ComparisonRecord).one().result == automatic
    at.text_input(key="signoff_reviewer").input("DR1")
    at.text_area(key="signoff_note").input("checked the **count**")
    at.button(key="FormSubmitter:sign_off-Sign off this comparison").click().run()
    assert not at.exception and any(s.value == "signed off by DR1" for s in at.success)
    assert any("signed by clinician DR1, the corrected figures: checked the **count**" in t.value for t in at.text)
    with factory() as session:
        (signed,) = session.query(SignOff).all()
        assert signed.figures["figures"] == "corrected" and signed.correction_id == row.id


def test_sign_off_needs_a_reviewer_and_writes_nothing_without_one(tricho_pair_ledger):
    from photostation.ledger import SignOff

    factory = tricho_pair_ledger
    at = _compared(factory)
    at.button(key="FormSubmitter:sign_off-Sign off this comparison").click().run()
    assert not at.exception and any("reviewer" in e.value for e in at.error)
    with factory() as session:
        assert session.query(SignOff).count() == 0


def test_compare_for_a_patient_without_baseline_says_so(tmp_path, protocol, monkeypatch):
    root = tmp_path / "archive"
    (root / "P009" / "month-6").mkdir(parents=True)
    shutil.copy(ROOT / "sample_images" / "P001" / "month-6" / "vertex.jpg", root / "P009" / "month-6")
    db = tmp_path / "ledger.db"
    ingest_archive(root, open_ledger(str(db)), protocol, now=NOW)
    monkeypatch.setenv("PHOTOSTATION_DB", str(db))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    at.switch_page("app_pages/compare.py").run()
    assert not at.exception and "no follow-up photo with a baseline photo" in at.info[0].value


def test_audit_page_lists_findings_filters_resolves_and_charts(ledger, monkeypatch):
    from photostation.ledger import FlagResolution

    factory, db, _ = ledger
    monkeypatch.setenv("PHOTOSTATION_DB", f"sqlite:///{db}")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    at.switch_page("app_pages/audit.py").run()
    assert not at.exception and at.title[0].value == "Audit"
    table = at.dataframe[0].value
    flagged = [f for f in review.open_flags(factory)]
    assert 0 < len(table) <= len(flagged)  # one row per finding, not per flagged check
    assert "camera.exposure_time_s" in set(table["rule"])
    # The station list is complete and filters the table.
    assert at.multiselect(key="audit_stations").options == ["station-1"]
    at.multiselect(key="audit_rules").select("camera.exposure_time_s").run()
    assert set(at.dataframe[0].value["rule"]) == {"camera.exposure_time_s"}
    # Charts for the drift tab are Vega-Lite specs with the photos in them.
    assert at.get("arrow_vega_lite_chart") or at.get("vega_lite_chart")
    from pipelines.audit_review import FlagFilter, flag_rows, resolve_flag

    key = flag_rows(factory, FlagFilter(rules=("camera.exposure_time_s",)))[0].key
    resolve_flag(factory, key, "AU", "shutter agreed with the clinic")
    at.selectbox(key="audit_state").set_value("resolved").run()
    assert list(at.dataframe[0].value["state"]) == ["resolved"]
    with factory() as session:
        assert session.query(FlagResolution).count() >= 1


def _capture_page(db, **params):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.query_params.update(params)
    # Straight to the page, as a deep link opens it (the start page would choose a visit of its own).
    at.switch_page("app_pages/capture.py").run()
    assert not at.exception and at.title[0].value == "Capture"
    return at


def test_capture_checks_an_upload_against_the_baseline_and_records_a_retake(ledger, monkeypatch):
    from photostation.ledger import CaptureRecord

    factory, db, root = ledger
    monkeypatch.setenv("PHOTOSTATION_DB", f"sqlite:///{db}")
    at = _capture_page(db, patient="P001", visit="month-6", view="vertex")
    at.text_input(key="capture_operator").input("op-anna").run()
    shot = (HDR / "canon_hdr_YES.jpg").read_bytes()
    at.file_uploader(key="capture_upload_0").set_value(("IMG_0001.JPG", shot, "image/jpeg")).run()
    assert not at.exception
    verdicts = [e.value for e in at.error] + [w.value for w in at.warning] + [s.value for s in at.success]
    headline = next(v for v in verdicts if "vertex of P001, month-6" in v)
    assert headline.startswith("FAIL")  # the shutter differs from the baseline by 1.7 stops
    assert any("camera.exposure_time_s" in t.value and "set it back" in t.value for t in at.text)
    assert any("already has a vertex photo" in w.value for w in at.warning)
    at.button(key="capture_retake").click().run()
    assert not at.exception and "Recorded: retake" in at.success[0].value
    with factory() as session:
        (record,) = session.query(CaptureRecord).all()
        assert (record.decision, record.operator, record.photo_id) == ("retake", "op-anna", None)
        assert any(r["name"] == "camera.exposure_time_s" for r in record.reasons)


def test_capture_accepts_a_new_patients_baseline_into_archive_and_ledger(ledger, monkeypatch):
    from photostation.ledger import CaptureRecord, Photo

    factory, db, root = ledger
    monkeypatch.setenv("PHOTOSTATION_DB", f"sqlite:///{db}")
    at = _capture_page(db, visit="baseline", view="vertex")
    at.selectbox(key="capture_patient").set_value("(new patient)").run()
    at.text_input(key="capture_new_patient").input("P100").run()
    at.text_input(key="capture_operator").input("op-ben").run()
    shot = (HDR / "canon_hdr_NO.jpg").read_bytes()
    at.file_uploader(key="capture_upload_0").set_value(("IMG_0002.JPG", shot, "image/jpeg")).run()
    assert not at.exception
    assert any("No baseline photo of this view yet" in i.value for i in at.info)  # nothing to line up with
    at.button(key="capture_accept").click().run()
    assert not at.exception and "Recorded: accept" in at.success[0].value
    assert (root / "P100" / "baseline" / "vertex.jpg").read_bytes() == shot
    with factory() as session:
        record = session.query(CaptureRecord).one()
        photo = session.get(Photo, record.photo_id)
        assert photo.relative_path == "P100/baseline/vertex.jpg" and record.operator == "op-ben"


def test_capture_refuses_bad_uploads_and_writes_nothing(ledger, monkeypatch):
    from photostation.ledger import CaptureRecord

    factory, db, root = ledger
    monkeypatch.setenv("PHOTOSTATION_DB", f"sqlite:///{db}")
    before = sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))
    at = _capture_page(db, patient="P001", visit="month-6", view="vertex")
    at.file_uploader(key="capture_upload_0").set_value(("notes.jpg", b"not a photo at all\n", "image/jpeg")).run()
    assert not at.exception and at.error and "not" in at.error[0].value.lower()
    assert not at.button  # no accept or retake for a file that is not a photo
    # A follow-up of a patient with no baseline photo is checked alone, and says so.
    at = _capture_page(db, patient="P001", visit="month-12", view="frontal")
    at.text_input(key="capture_operator").input("op-anna").run()
    at.file_uploader(key="capture_upload_0").set_value(("a.jpg", (HDR / "canon_hdr_NO.jpg").read_bytes(),
                                                        "image/jpeg")).run()
    assert not at.exception and any("no baseline photo of frontal for P001" in i.value for i in at.info), (
        [i.value for i in at.info], [e.value for e in at.error], [w.value for w in at.warning])
    # Accept without an operator: refused, nothing written.
    at.text_input(key="capture_operator").input("").run()
    at.button(key="capture_accept").click().run()
    assert not at.exception and any("operator" in e.value.lower() for e in at.error)
    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*")) == before
    with factory() as session:
        assert session.query(CaptureRecord).count() == 0


def test_page_scripts_draw_nothing_by_accident():
    """Streamlit's "magic" draws any bare expression of a page script (a string after a constant
    showed up as text on the Capture page): only the docstring and calls may stand alone."""
    import ast

    for script in [ROOT / "app.py", *sorted((ROOT / "app_pages").glob("*.py"))]:
        tree = ast.parse(script.read_text("utf-8"))
        stray = [node.lineno for node in ast.walk(tree) if isinstance(node, ast.Expr)
                 and not isinstance(node.value, (ast.Call, ast.Await, ast.Yield, ast.YieldFrom))
                 and not (isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
                          and _is_docstring(tree, node))]
        assert not stray, f"{script.name}: bare expressions at lines {stray}"


def _is_docstring(tree, node) -> bool:
    import ast

    for owner in ast.walk(tree):
        if isinstance(owner, (ast.Module, ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)):
            if owner.body and owner.body[0] is node:
                return True
    return False


def test_reviewer_identity_comes_from_the_clinic_login(ledger, monkeypatch):
    """With the clinic's login (Streamlit OIDC), the reviewer is who signed in, not typed."""
    from app_pages import common

    factory, db, _ = ledger
    monkeypatch.setenv("PHOTOSTATION_DB", f"sqlite:///{db}")
    monkeypatch.setattr(common, "signed_in_name", lambda: "dr.lee@clinic.example")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    field = at.text_input(key="reviewer")
    assert field.value == "dr.lee@clinic.example" and field.disabled
    at.button[0].click().run()
    assert not at.exception and "by dr.lee@clinic.example" in at.success[0].value


def test_with_a_login_configured_nothing_is_shown_before_signing_in(ledger, monkeypatch):
    factory, db, _ = ledger
    monkeypatch.setenv("PHOTOSTATION_DB", f"sqlite:///{db}")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.secrets["auth"] = {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "x" * 32,
                          "client_id": "photostation", "client_secret": "s",
                          "server_metadata_url": "https://login.clinic.example/.well-known/openid-configuration"}
    at.run()
    assert not at.exception
    assert at.button[0].label == "Sign in with the clinic's account"
    assert not at.dataframe and not at.selectbox  # no patient, visit or photo before signing in
