"""Issue 17, parts 4 and 5, tested on real camera files that carry GPS, serial numbers, owner
names and comments.

- Privacy: exports, reports and logs carry pseudonymous patient codes only; exported images
  carry no GPS, serial number, owner or comment EXIF; the ledger never stores GPS, owner or
  comment tags (it keeps the body serial for the camera-identity check, and exports drop it).
- Paths: IDs from manifests and uploads cannot escape the archive or the output folders
  (traversal, absolute paths, links out of the tree), odd file names do not crash ingest, and
  an output never writes through a link planted at its name.
"""
from __future__ import annotations

import base64
import contextlib
import dataclasses
import datetime as dt
import io
import json
import os
import re
import shutil
import stat
from pathlib import Path

import exifread
import numpy as np
import pytest
from PIL import Image
from sqlalchemy import select

from photostation.archive import infer_from_path, parse_relative, scan_archive, validate_label, validate_patient
from photostation.capture import check_shot
from photostation.errors import InputError
from photostation.ledger import Base, ComparisonRecord, Patient, Photo, open_ledger
from photostation.metadata import PhotoMetadata
from photostation.writing import write_atomic
from photostation_cli.main import main
from pipelines.audit_records import AuditSummary, CheckRow, Finding, PairRow
from pipelines.audit_report import REPORT_FILES, SERIAL_MARK, exportable, write_report

from .conftest import NOW, REALDATA, ROOT

GPS_SERIAL = REALDATA / "jpg" / "tests" / "87_OSError.jpg"  # Nikon D70s: GPS position and BodySerialNumber
GPS_SMALL = REALDATA / "jpg" / "gps" / "DSCN0010.jpg"  # Nikon P6000, 640x480: GPS position
OWNER = REALDATA / "jpg" / "Canon_PowerShot_S40.jpg"  # OwnerName (Canon maker note)
ARTIST = REALDATA / "jpg" / "tests" / "32-lens_data.jpeg"  # Artist, Copyright, SerialNumber (maker note)
DESCRIBED = REALDATA / "jpg" / "long_description.jpg"  # Artist, ImageDescription
SOURCES = (GPS_SERIAL, GPS_SMALL, OWNER, ARTIST, DESCRIBED)

# EXIF tags an exported image must not carry (IFD0, Exif IFD and the GPS IFD pointer).
PRIVATE_TAGS = {0x010E: "ImageDescription", 0x013B: "Artist", 0x8298: "Copyright", 0x8825: "GPSInfo",
                0x927C: "MakerNote", 0x9286: "UserComment", 0x9C9C: "XPComment", 0xA430: "CameraOwnerName",
                0xA431: "BodySerialNumber", 0xA435: "LensSerialNumber"}
PRIVATE_NAMES = ("Serial", "OwnerName", "Artist", "Copyright", "UserComment", "ImageDescription", "XPComment")
PERSON = "Doe, Jane"  # a folder name on the station that must never reach an output
OTHER_BODY = "-2000f46"  # the serial of the audit's second camera body (see ``audited``)


def private_texts(path: Path) -> dict[str, set[str]]:
    """The identifying EXIF values of a real file, as they could appear in an output: serial
    numbers, owner/artist/copyright names, comments and descriptions (first 40 characters), and
    the GPS position in decimal degrees (4 places)."""
    with open(path, "rb") as handle:
        tags = exifread.process_file(handle, details=True)
    found: dict[str, set[str]] = {"serial": set(), "owner": set(), "comment": set(), "gps": set()}
    for key, tag in tags.items():
        name = key.split(" ", 1)[-1]
        kind = ("serial" if "Serial" in name else "owner" if name in ("OwnerName", "CameraOwnerName", "Artist",
                                                                        "Copyright")
                else "comment" if name in ("UserComment", "ImageDescription", "XPComment") else None)
        value = str(tag).strip()[:40].strip()
        if kind and len(value) >= 4:
            found[kind].add(value)
    for key in ("GPS GPSLatitude", "GPS GPSLongitude"):
        if key in tags:
            d, m, s = (float(v.num) / float(v.den) if v.den else 0.0 for v in tags[key].values)
            found["gps"].add(f"{d + m / 60 + s / 3600:.4f}")
    return found


FORBIDDEN = sorted({text for source in SOURCES for texts in private_texts(source).values() for text in texts})


def leaks(text: str, extra: tuple[str, ...] = ()) -> list[str]:
    return [value for value in (*FORBIDDEN, *extra) if value in text]


def run(args: list, capsys) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def assert_no_private_metadata(path: Path) -> None:
    """No private EXIF tag, no EXIF/XMP/comment block, none of the sources' private texts in the bytes."""
    data = path.read_bytes()
    with Image.open(path) as image:
        exif = image.getexif()
        tags = set(exif) | set(exif.get_ifd(0x8769)) | set(exif.get_ifd(0x8825))
        assert not tags & PRIVATE_TAGS.keys(), f"{path.name}: {[PRIVATE_TAGS[t] for t in tags & PRIVATE_TAGS.keys()]}"
        assert not {"exif", "xmp", "XML:com.adobe.xmp", "comment"} & set(image.info), (path.name, image.info.keys())
        assert not getattr(image, "text", {}), path.name
    assert b"Exif\x00\x00" not in data and b"GPS" not in data, path.name
    assert not [v for v in FORBIDDEN if v.encode() in data], path.name


def test_the_real_sources_carry_what_must_not_leak():
    """The tests below mean something only if their inputs hold GPS, serials, owners and comments."""
    texts = {source.name: private_texts(source) for source in SOURCES}
    assert texts[GPS_SERIAL.name]["gps"] and texts[GPS_SERIAL.name]["serial"] == {"-1000f46"}
    assert texts[GPS_SMALL.name]["gps"]
    assert "Andreas Huggel" in texts[OWNER.name]["owner"]
    assert texts[ARTIST.name]["serial"] and any("Kurikhin" in t for t in texts[ARTIST.name]["owner"])
    assert texts[DESCRIBED.name]["comment"] and texts[DESCRIBED.name]["owner"]
    assert len(FORBIDDEN) >= 8


# --------------------------------------------------------------------------- exported images


@pytest.fixture
def station_ledger(tmp_path):
    """A ledger with a flat-field profile for station-1, so ``calibrate --out`` has a correction."""
    from calibration.flatfield import FlatField
    from photostation.stations import save_profile

    db = tmp_path / "stations.db"
    save_profile(open_ledger(str(db)), station="station-1", valid_from=dt.date(2000, 1, 1), source="flat-field",
                 flat_field=FlatField(np.ones((48, 64), np.float32), 1.0))
    return db


@pytest.mark.parametrize("command,source", [
    ("compare", GPS_SMALL), ("measure", ARTIST), ("check", OWNER), ("calibrate.png", GPS_SERIAL),
    ("calibrate.tif", GPS_SMALL),
])
def test_exported_images_carry_no_private_exif_and_the_output_no_private_text(
        command, source, tmp_path, capsys, station_ledger):
    folder = tmp_path / PERSON  # where the photographer keeps the shot: its name must not leak
    folder.mkdir()
    photo = shutil.copy(source, folder / "vertex.jpg")
    out = tmp_path / "out"
    args = {
        "compare": ["compare", photo, photo, "--out", out, "--json"],
        "measure": ["measure", photo, "--view", "global", "--out", out, "--json"],
        "check": ["check", photo, "--baseline", photo, "--out", out],
        "calibrate.png": ["calibrate", photo, "--station", "station-1", "--db", station_ledger, "--out",
                          out / "corrected.png", "--json"],
        "calibrate.tif": ["calibrate", photo, "--station", "station-1", "--db", station_ledger, "--out",
                          out / "corrected.tif", "--json"],
    }[command]
    code, stdout, stderr = run(args, capsys)
    assert code in (0, 1), stderr
    written = sorted(out.iterdir())
    expected = {"compare": 4, "measure": 1, "check": 1}.get(command, 1)
    assert len(written) >= expected, (command, written)
    for path in written:
        assert_no_private_metadata(path)
    assert leaks(stdout + stderr, (PERSON,)) == []


# --------------------------------------------------------------------------- the audit


def _small_copy(source: Path, exif_changes: tuple[bytes, bytes] = (b"", b"")) -> bytes:
    """The photo at a third of its size with its camera's EXIF block as it is (or with one
    value swapped for one of the same length): the same private tags, a faster audit."""
    with Image.open(source) as image:
        exif = image.info["exif"].replace(*exif_changes) if exif_changes[0] else image.info["exif"]
        small = image.resize((image.width // 3, image.height // 3))
    buffer = io.BytesIO()
    small.save(buffer, "JPEG", quality=90, exif=exif)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def audited(tmp_path_factory):
    """``photostation audit`` on real files with GPS, serials, owners and comments, run from a
    folder named after a person: the occipital view's two visits are taken with two camera
    bodies (serials -1000f46 and -2000f46, so ``camera.serial`` warns with both in its message),
    a follow-up's pixels are truncated (its comparison fails with a message naming the file),
    and a link leads to a file outside the archive."""
    home = tmp_path_factory.mktemp("station") / PERSON
    archive = home / "archive"
    for visit in ("baseline", "month-6"):
        (archive / "P001" / visit).mkdir(parents=True)
    files = {"baseline/vertex.jpg": GPS_SMALL, "month-6/vertex.jpg": OWNER,
             "baseline/frontal.jpg": ARTIST, "month-6/frontal.jpg": DESCRIBED,
             "baseline/midscalp.jpg": REALDATA / "jpg" / "gps" / "DSCN0021.jpg"}
    for relative, source in files.items():
        shutil.copy(source, archive / "P001" / relative)
    (archive / "P001" / "baseline" / "occipital.jpg").write_bytes(_small_copy(GPS_SERIAL))
    (archive / "P001" / "month-6" / "occipital.jpg").write_bytes(
        _small_copy(GPS_SERIAL, (b"-1000f46", OTHER_BODY.encode())))
    data = (REALDATA / "jpg" / "gps" / "DSCN0012.jpg").read_bytes()
    (archive / "P001" / "month-6" / "midscalp.jpg").write_bytes(data[: len(data) // 2])
    outside = home / "outside-consent-form.jpg"
    shutil.copy(GPS_SMALL, outside)
    (archive / "P001" / "month-6" / "left-temporal.jpg").symlink_to(outside)
    (archive / "manifest.csv").write_text("patient,visit,view,operator,station,site,visit_date\n"
                                          "P001,baseline,,op-anna,station-1,,\nP001,month-6,,op-anna,station-1,,\n")
    stdout, stderr = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        patch.chdir(home)
        code = main(["audit", "archive", "--db", "ledger.db", "--report", "report", "--workers", "1"])
    return {"home": home, "code": code, "stdout": stdout.getvalue(), "stderr": stderr.getvalue(),
            "report": home / "report", "db": home / "ledger.db"}


def test_audit_runs_and_finds_the_serial_pair_and_the_failed_comparison(audited):
    assert audited["code"] == 1, audited["stderr"]
    checks = (audited["report"] / "checks.csv").read_text("utf-8")
    changed = f"camera.serial,warn,null,null,camera body changed from baseline ({SERIAL_MARK} -> {SERIAL_MARK})"
    assert changed in checks  # the check is exported, the serials are not
    page = (audited["report"] / "report.html").read_text("utf-8")
    assert f"camera body changed from baseline ({SERIAL_MARK} -&gt; {SERIAL_MARK})" in page
    assert "the comparison could not run: follow-up: pixel data truncated: P001/month-6/midscalp.jpg" in checks
    assert "comparison-failed" in audited["stdout"]


def test_audit_report_files_carry_codes_and_relative_paths_only(audited):
    home = str(audited["home"])
    for name in REPORT_FILES:
        text = (audited["report"] / name).read_text("utf-8")
        assert leaks(text, (OTHER_BODY, home, PERSON, "outside-consent-form")) == [], name
        if name != "drift.csv":
            assert "P001" in text, name


def test_audit_thumbnails_carry_no_exif(audited):
    page = (audited["report"] / "report.html").read_text("utf-8")
    thumbnails = [base64.b64decode(m) for m in re.findall(r'src="data:image/(?:jpeg|png);base64,([^"]+)"', page)]
    with open_ledger(str(audited["db"]))() as session:
        for record in session.scalars(select(ComparisonRecord)):
            thumbnails += [t for t in (record.thumbnail_baseline, record.thumbnail_followup) if t]
    assert len(thumbnails) >= 4  # the occipital pair registers: both thumbnails, in the page and the ledger
    for data in thumbnails:
        with Image.open(io.BytesIO(data)) as image:
            assert len(image.getexif()) == 0 and "exif" not in image.info
        assert b"Exif\x00\x00" not in data


def test_ledger_keeps_the_serial_but_no_gps_owner_or_comment(audited):
    factory = open_ledger(str(audited["db"]))
    with factory() as session:
        dump = "\n".join(str(tuple(row)) for table in Base.metadata.sorted_tables
                         for row in session.execute(select(table)))
        photos = {p.relative_path: p for p in session.scalars(select(Photo))}
    fields = set(PhotoMetadata.__dataclass_fields__)
    for photo in photos.values():
        assert set(photo.metadata_json) <= fields
    # The body serials are kept for the camera-identity check; "00STANDA", a maker-note serial, is not read.
    assert photos["P001/baseline/occipital.jpg"].serial == "-1000f46"
    assert photos["P001/month-6/occipital.jpg"].serial == OTHER_BODY
    assert leaks(dump.replace("-1000f46", "").replace(OTHER_BODY, "")) == []
    assert "P001/month-6/left-temporal.jpg" not in photos  # the link out of the archive was not read


def test_audit_log_carries_no_serial_owner_or_gps(audited):
    assert leaks(audited["stdout"] + audited["stderr"], (OTHER_BODY,)) == []


def test_audit_log_carries_no_absolute_path(audited):
    assert leaks(audited["stdout"] + audited["stderr"], (str(audited["home"]), PERSON)) == []


def test_exportable_drops_serials_and_local_paths_everywhere():
    check = CheckRow(patient="P001", visit="month-6", view="vertex", photo="P001/month-6/vertex.jpg", scope="pair",
                     name="camera.serial", status="warn", value="083021005319", limit="083021001742",
                     message="camera body changed from baseline (083021001742 -> 083021005319): "
                             "use the baseline set-up")
    failed = dataclasses.replace(check, scope="compare", name="compare.run", status="fail", value=None, limit=None,
                                 message="the comparison could not run: baseline: pixel data truncated: "
                                         "/home/Dr Doe/clinic archive/P001/baseline/vertex.jpg")
    pair = PairRow(patient="P001", view="vertex", baseline_visit="baseline", followup_visit="month-6",
                   baseline_photo="P001/baseline/vertex.jpg", followup_photo="P001/month-6/vertex.jpg", kind=None,
                   comparable=False, outcome=None, flags=("camera.serial: body 083021005319 differs",),
                   reasons=("the comparison could not run: C:\\Users\\doe\\archive\\P001\\month-6\\vertex.jpg: bad",))
    summary = AuditSummary(generated_at=dt.datetime(2026, 11, 22), protocol="p", patients=1, photos=2, pairs=(pair,),
                           checks=(check, failed), findings=(Finding("comparison-failed", failed.message, "P001"),),
                           charts=(), events=())
    clean = exportable(summary)
    text = repr(clean)
    assert "0830210" not in text and "Dr Doe" not in text and "Users" not in text
    assert clean.checks[0].value is None and clean.checks[0].limit is None
    assert clean.checks[0].message == f"camera body changed from baseline ({SERIAL_MARK} -> {SERIAL_MARK}): " \
                                      "use the baseline set-up"
    assert clean.checks[1].message.endswith("pixel data truncated: P001/baseline/vertex.jpg")
    assert clean.findings[0].message == clean.checks[1].message
    assert clean.pairs[0].reasons == ("the comparison could not run: P001\\month-6\\vertex.jpg: bad",)
    assert exportable(clean) == clean  # idempotent: render_html and audit_record apply it again


# --------------------------------------------------------------------------- IDs from manifests and uploads

BAD_IDS = ["../x", "/etc/passwd", "a/b", "..", ".", "P0\x0001", "x" * 300, "\u0420001", "\uff30001", "P001\u200b",
           "C:\\x", "P 001", "~root"]


@pytest.mark.parametrize("column", ["patient", "visit", "view"])
@pytest.mark.parametrize("value", BAD_IDS, ids=lambda v: repr(v[:12]))
def test_manifest_ids_that_could_be_paths_refuse_the_ingest(column, value, tmp_path, protocol):
    archive = tmp_path / "archive"
    (archive / "P001" / "baseline").mkdir(parents=True)
    row = {"patient": "P001", "visit": "baseline", "view": "vertex"} | {column: value}
    quoted = ",".join('"' + row[c].replace('"', '""') + '"' for c in ("patient", "visit", "view"))
    (archive / "manifest.csv").write_text(f"patient,visit,view,operator\n{quoted},op-a\n", "utf-8")
    before = sorted(tmp_path.rglob("*"))
    with pytest.raises(InputError, match=r"manifest\.csv line 2: invalid") as refused:
        scan_archive(archive, protocol)
    message = str(refused.value)
    assert "\n" not in message and len(message) < 250  # one line, a very long ID is cut
    assert sorted(tmp_path.rglob("*")) == before  # nothing created from the ID


def test_cli_refuses_a_traversal_id_before_writing_anything(tmp_path, capsys):
    archive = tmp_path / "archive"
    (archive / "P001" / "baseline").mkdir(parents=True)
    shutil.copy(GPS_SMALL, archive / "P001" / "baseline" / "vertex.jpg")
    (archive / "manifest.csv").write_text("patient,visit,view\nP001,../../outside,\n")
    code, out, err = run(["ingest", archive, "--db", tmp_path / "ledger.db"], capsys)
    assert code == 2 and out == "" and err.count("\n") == 1 and "invalid visit label '../../outside'" in err
    assert not (tmp_path / "outside").exists()
    with open_ledger(str(tmp_path / "ledger.db"))() as session:
        assert session.scalars(select(Photo)).all() == []


@pytest.mark.parametrize("value", ["P001\n", "vertex\n", "a\n"])
def test_a_final_newline_is_not_part_of_a_valid_id(value):
    """``$`` matches before a final newline: "P001\\n" passed as a patient code before."""
    with pytest.raises(InputError, match="invalid patient ID"):
        validate_patient(value)
    with pytest.raises(InputError, match="invalid view name"):
        validate_label(value, "view name")
    with pytest.raises(InputError):
        parse_relative(f"P001/baseline/{value}.jpg")
    with pytest.raises(InputError):
        parse_relative(f"{value}/baseline/vertex.jpg")
    assert infer_from_path(f"/a/{value}/{value}/{value}.jpg") == (None, None, None)


@pytest.mark.parametrize("patient,visit,view", [
    ("../P001", "baseline", "vertex"), ("/etc", "baseline", "vertex"), ("P001\n", "baseline", "vertex"),
    ("a/b", "baseline", "vertex"), ("\uff30001", "baseline", "vertex"), ("P" * 65, "baseline", "vertex"),
    ("P001", "../baseline", "vertex"), ("P001", "baseline\n", "vertex"), ("P001", "baseline", "../../vertex"),
    ("P001", "baseline", "vertex\n"), ("P001", "baseline", "tricho-a/../../x"), ("P001", "..", "vertex"),
])
def test_capture_refuses_unsafe_ids_before_anything(patient, visit, view, protocol):
    """Capture (the app's uploads) builds ``<archive>/<patient>/<visit>/<view>.<ext>`` from these."""
    with pytest.raises(InputError, match="invalid|unknown view"):
        check_shot(GPS_SMALL.read_bytes(), "shot.jpg", patient, visit, view, None, protocol)


# --------------------------------------------------------------------------- links in the archive


def test_links_that_lead_out_of_the_archive_are_not_read(tmp_path, capsys):
    archive, outside = tmp_path / "archive", tmp_path / PERSON
    (archive / "P001" / "baseline").mkdir(parents=True)
    (outside / "baseline").mkdir(parents=True)
    shutil.copy(GPS_SMALL, archive / "P001" / "baseline" / "vertex.jpg")
    shutil.copy(GPS_SMALL, outside / "baseline" / "vertex.jpg")
    shutil.copy(GPS_SMALL, outside / "frontal.jpg")
    visit = archive / "P001" / "baseline"
    (visit / "frontal.jpg").symlink_to(outside / "frontal.jpg")  # file, absolute link
    (visit / "occipital.jpg").symlink_to(Path("..", "..", "..", PERSON, "frontal.jpg"))  # file, relative link
    (visit / "midscalp.jpg").symlink_to("/nonexistent/midscalp.jpg")  # dangling, outside
    (visit / "left-temporal.jpg").symlink_to("left-temporal.jpg")  # a loop
    (archive / "P002").symlink_to(outside)  # a patient folder
    (archive / "P001" / "month-6").symlink_to(outside / "baseline")  # a visit folder
    code, out, err = run(["ingest", archive, "--db", tmp_path / "ledger.db", "--json"], capsys)
    assert code in (0, 1), err
    summary = json.loads(out)
    skipped = {s["path"]: s["reason"] for s in summary["skipped"]}
    for relative in ("P001/baseline/frontal.jpg", "P001/baseline/occipital.jpg", "P001/baseline/midscalp.jpg",
                     "P002", "P001/month-6"):
        assert skipped[relative] == f"refused link {relative!r}: it points outside the archive"
    assert skipped["P001/baseline/left-temporal.jpg"].endswith("it cannot be followed (a loop)")
    assert summary["photos"] == 1
    with open_ledger(str(tmp_path / "ledger.db"))() as session:
        assert [p.relative_path for p in session.scalars(select(Photo))] == ["P001/baseline/vertex.jpg"]
        assert [p.code for p in session.scalars(select(Patient))] == ["P001"]
    assert PERSON not in out + err and str(outside) not in out + err


def test_links_inside_the_archive_files_are_read_folders_are_not(tmp_path, protocol):
    archive = tmp_path / "archive"
    (archive / "P001" / "baseline").mkdir(parents=True)
    (archive / "P001" / "month-6").mkdir()
    shutil.copy(GPS_SMALL, archive / "P001" / "baseline" / "vertex.jpg")
    (archive / "P001" / "month-6" / "vertex.jpg").symlink_to(Path("..", "baseline", "vertex.jpg"))
    (archive / "P002").symlink_to("P001")
    (archive / "P001" / "month-3").symlink_to("baseline")
    scan = scan_archive(archive, protocol)
    photos = {p.relative_path: p.path for p in scan.photos}
    assert photos == {"P001/baseline/vertex.jpg": archive / "P001" / "baseline" / "vertex.jpg",
                      "P001/month-6/vertex.jpg": archive / "P001" / "baseline" / "vertex.jpg"}
    skipped = {s.relative_path: s.reason for s in scan.skipped}
    assert skipped == {r: f"refused link {r!r}: links to folders are not followed" for r in ("P001/month-3", "P002")}


def test_a_manifest_that_is_a_link_refuses_the_ingest(tmp_path, protocol):
    archive = tmp_path / "archive"
    archive.mkdir()
    (tmp_path / "elsewhere.csv").write_text("patient,visit\nP001,baseline\n")
    (archive / "manifest.csv").symlink_to(tmp_path / "elsewhere.csv")
    with pytest.raises(InputError, match="manifest.csv: must be a regular file"):
        scan_archive(archive, protocol)


def test_odd_file_names_are_skipped_with_a_reason_and_cannot_forge_output_lines(tmp_path, capsys):
    archive = tmp_path / "archive"
    visit = archive / "P001" / "baseline"
    visit.mkdir(parents=True)
    photo = GPS_SMALL.read_bytes()
    (visit / "vertex.jpg").write_bytes(photo)
    raw = os.fsencode(archive)
    names = [b"P001/baseline/fr\xffontal.jpg", b"P\xe9001/baseline/vertex.jpg"]  # not UTF-8 (Latin-1 bytes)
    names += [n.encode() for n in ("M\u00fcller/baseline/vertex.jpg", "P001/baseline/v\u00e9rtex.jpg",
                                   "P001/baseline/\uff56ertex.jpg", "P001/baseline/tricho-a\n  FAIL P9/x.jpg",
                                   "P002\n/baseline/vertex.jpg", "P001/baseline/occipital.jpg\r",
                                   "P001/baseline/a\tb.jpg")]
    try:
        for name in names:
            os.makedirs(os.path.dirname(os.path.join(raw, name)), exist_ok=True)
            with open(os.path.join(raw, name), "wb") as handle:
                handle.write(photo)
    except (OSError, UnicodeError) as exc:  # pragma: no cover - a file system that refuses such names
        pytest.skip(f"this file system refuses the names: {exc}")
    code, out, err = run(["ingest", archive, "--db", tmp_path / "ledger.db", "--json"], capsys)
    assert code in (0, 1), err
    summary = json.loads(out)
    assert summary["photos"] == 1 and len(summary["skipped"]) == len(names)
    reasons = {s["path"]: s["reason"] for s in summary["skipped"]}
    assert reasons["P001/baseline/fr\\xffontal.jpg"] == reasons["P\\xe9001/baseline/vertex.jpg"] == \
        "file name is not valid UTF-8 or has control characters: rename it"
    assert reasons["P002\\n/baseline/vertex.jpg"] == reasons["P001/baseline/tricho-a\\n  FAIL P9/x.jpg"]
    assert "invalid patient ID 'M\u00fcller'" in reasons["M\u00fcller/baseline/vertex.jpg"]
    assert "invalid view name" in reasons["P001/baseline/\uff56ertex.jpg"]
    for path in reasons:
        assert not re.search(r"[\x00-\x1f\x7f]", path)
        path.encode("utf-8")
    code, out, err = run(["ingest", archive, "--db", tmp_path / "ledger.db"], capsys)
    known = ("ledger:", "photos:", "photo verdicts:", "visit verdicts:", "  FAIL P001/", "  skipped ")
    assert [line for line in out.splitlines() if not line.startswith(known)] == [] and "\r" not in out
    assert sum(line.startswith("  skipped ") for line in out.splitlines()) == len(names)
    with open_ledger(str(tmp_path / "ledger.db"))() as session:
        assert [p.code for p in session.scalars(select(Patient))] == ["P001"]


# --------------------------------------------------------------------------- output folders


def test_write_atomic_replaces_a_planted_link_and_never_writes_through_it(tmp_path):
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    out.mkdir()
    elsewhere.mkdir()
    victim = elsewhere / "victim.txt"
    victim.write_text("keep me")
    (out / "report.html").symlink_to(victim)
    (out / "pairs.csv").symlink_to(elsewhere / "created-by-a-dangling-link.csv")
    (out / "audit.json").symlink_to(elsewhere)  # a link to a folder
    for name in ("report.html", "pairs.csv", "audit.json"):
        written = write_atomic(out / name, lambda handle: handle.write(b"new"))
        assert written == out / name and not written.is_symlink() and written.read_bytes() == b"new"
    assert victim.read_text() == "keep me"
    assert sorted(p.name for p in elsewhere.iterdir()) == ["victim.txt"]


def test_write_atomic_writes_a_private_temporary_file_in_the_target_folder(tmp_path):
    target = tmp_path / "out" / "report.html"
    seen = []

    def write(handle):
        handle.write(b"partial")
        temps = [p for p in target.parent.iterdir() if p.name.startswith(".report.html.")]
        seen.extend((p.parent, stat.S_IMODE(p.stat().st_mode)) for p in temps)

    old = os.umask(0o077)
    try:
        write_atomic(target, write)
        assert stat.S_IMODE(target.stat().st_mode) == 0o600  # the umask is respected: not world-readable
        os.umask(0o022)
        write_atomic(target, write)
        assert stat.S_IMODE(target.stat().st_mode) == 0o644
    finally:
        os.umask(old)
    assert seen == [(target.parent, 0o600)] * 2  # exclusive, owner-only while it is written, beside the target
    assert sorted(p.name for p in target.parent.iterdir()) == ["report.html"]


def test_write_atomic_failure_and_a_folder_at_the_name(tmp_path):
    target = tmp_path / "report.html"
    target.write_bytes(b"old")

    def broken(handle):
        handle.write(b"half")
        raise RuntimeError("disk gone")

    with pytest.raises(RuntimeError):
        write_atomic(target, broken)
    assert target.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]
    (tmp_path / "folder").mkdir()
    with pytest.raises(InputError, match="a folder has that name"):
        write_atomic(tmp_path / "folder", lambda handle: handle.write(b"x"))


def test_audit_report_never_writes_outside_its_folder(tmp_path):
    out, elsewhere = tmp_path / "report", tmp_path / "elsewhere"
    out.mkdir()
    elsewhere.mkdir()
    for name in REPORT_FILES:
        (elsewhere / name).write_text("keep me")
        (out / name).symlink_to(elsewhere / name)
    summary = AuditSummary(generated_at=dt.datetime(2026, 11, 22), protocol="p", patients=0, photos=0, pairs=(),
                           checks=(), findings=(), charts=(), events=())
    paths = write_report(summary, out)
    assert paths == [out / name for name in REPORT_FILES]
    assert all(p.is_file() and not p.is_symlink() for p in paths)
    assert all((elsewhere / name).read_text() == "keep me" for name in REPORT_FILES)
    assert sorted(p.name for p in out.iterdir()) == sorted(REPORT_FILES)


def test_measure_out_stays_in_its_folder_whatever_the_photo_is_named(tmp_path, capsys):
    photo = tmp_path / "in" / "..\\..\\evil.jpg"  # backslashes and dots: one ordinary name on Linux
    photo.parent.mkdir()
    shutil.copy(GPS_SMALL, photo)
    out, victim = tmp_path / "out", tmp_path / "victim.png"
    out.mkdir()
    victim.write_bytes(b"keep me")
    (out / "..\\..\\evil_measured.png").symlink_to(victim)
    before = sorted(p for p in tmp_path.rglob("*") if out not in p.parents)
    code, stdout, stderr = run(["measure", photo, "--view", "global", "--out", out], capsys)
    assert code in (0, 1), stderr
    assert [p.name for p in out.iterdir()] == ["..\\..\\evil_measured.png"]
    assert not (out / "..\\..\\evil_measured.png").is_symlink() and victim.read_bytes() == b"keep me"
    assert sorted(p for p in tmp_path.rglob("*") if out not in p.parents) == before


def test_calibrate_out_replaces_a_planted_link(tmp_path, capsys, station_ledger):
    victim = tmp_path / "victim.png"
    victim.write_bytes(b"keep me")
    (tmp_path / "corrected.png").symlink_to(victim)
    code, _, stderr = run(["calibrate", GPS_SMALL, "--station", "station-1", "--db", station_ledger,
                           "--out", tmp_path / "corrected.png"], capsys)
    assert code in (0, 1), stderr
    assert victim.read_bytes() == b"keep me" and not (tmp_path / "corrected.png").is_symlink()
    with Image.open(tmp_path / "corrected.png") as image:
        assert image.size == (640, 480)


def test_capture_never_writes_through_a_folder_link_out_of_the_archive(tmp_path, protocol):
    """A patient folder that is a link out of the archive: accepting a shot is refused before
    anything is written (ingest would not follow the link, and the file would land elsewhere)."""
    from photostation.capture import record_capture
    from photostation.ingest import ingest_archive
    from photostation.ledger import CaptureRecord, open_ledger

    archive, outside = tmp_path / "archive", tmp_path / "outside"
    (archive / "P001" / "baseline").mkdir(parents=True)
    shutil.copy(ROOT / "sample_images" / "P001" / "baseline" / "vertex.jpg", archive / "P001" / "baseline")
    outside.mkdir()
    (archive / "P009").symlink_to(outside, target_is_directory=True)
    factory = open_ledger(str(tmp_path / "ledger.db"))
    ingest_archive(archive, factory, protocol, now=NOW)
    data = (ROOT / "sample_images" / "P002" / "baseline" / "vertex.jpg").read_bytes()
    shot = check_shot(data, "x.jpg", "P009", "baseline", "vertex", factory, protocol, now=NOW)
    with pytest.raises(InputError, match="is a link"):
        record_capture(factory, shot, data, "accept", "op-anna", None, protocol, now=NOW)
    assert list(outside.rglob("*")) == []
    with factory() as session:
        assert session.query(CaptureRecord).count() == 0


def test_audit_lists_the_files_it_did_not_read(audited):
    """The link out of the archive is not read, and the audit says so (as ingest does)."""
    line = next(line for line in audited["stdout"].splitlines() if "skipped P001/month-6/left-temporal.jpg" in line)
    assert "outside" in line or "link" in line
