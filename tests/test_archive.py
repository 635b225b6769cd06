from __future__ import annotations

import pytest

from photostation.archive import infer_from_path, parse_relative, scan_archive
from photostation.errors import InputError


@pytest.mark.parametrize("relative", [
    "../P001/baseline/vertex.jpg", "P001/../../etc/vertex.jpg", "/etc/passwd", "P001/baseline/./vertex.jpg",
    "C:/P001/baseline/vertex.jpg", "P001\\baseline\\vertex.jpg", "P001//vertex.jpg",
])
def test_path_traversal_is_refused(relative):
    with pytest.raises(InputError, match="refused path"):
        parse_relative(relative)


@pytest.mark.parametrize("relative,fragment", [
    ("John Smith/baseline/vertex.jpg", "invalid patient ID"),
    ("P001/Month 6/vertex.jpg", "invalid visit label"),
    ("P001/baseline/Vertex.jpg", "invalid view name"),
    ("P001/baseline/vertex", "needs an extension"),
    ("P001/baseline/extra/vertex.jpg", "expected <patient>/<visit>/<view>.<ext>"),
    ("-P001/baseline/vertex.jpg", "invalid patient ID"),
])
def test_odd_ids_are_refused_with_a_message(relative, fragment):
    with pytest.raises(InputError, match=fragment):
        parse_relative(relative)


def test_valid_layout_parses():
    assert parse_relative("P-001_a/month-6/tricho-vertex.JPG") == ("P-001_a", "month-6", "tricho-vertex", "jpg")
    assert infer_from_path("/x/archive/P001/month-6/vertex.jpg") == ("P001", "month-6", "vertex")
    assert infer_from_path("/tmp/Shot 1.JPG")[2] is None


def test_scan_applies_manifest_and_ignores_hidden_files(tmp_path, protocol):
    for view in ("vertex", "tricho-vertex"):
        (tmp_path / "P1" / "baseline").mkdir(parents=True, exist_ok=True)
        (tmp_path / "P1" / "baseline" / f"{view}.jpg").write_bytes(b"x")
    (tmp_path / "P1" / "baseline" / ".DS_Store").write_bytes(b"x")
    (tmp_path / ".cache").mkdir()
    (tmp_path / ".cache" / "a.jpg").write_bytes(b"x")
    (tmp_path / "P1" / "baseline" / "vertex.png").write_bytes(b"x")
    (tmp_path / "manifest.csv").write_text(
        "patient,visit,view,operator,station,site,visit_date\n"
        "P1,baseline,,op-a,station-2,,2026-01-05\n"
        "P1,baseline,tricho-vertex,op-b,,2 cm behind whorl,\n"
        "P9,baseline,,op-a,,,\n")
    scan = scan_archive(tmp_path, protocol)
    photos = {p.view: p for p in scan.photos}
    assert set(photos) == {"vertex", "tricho-vertex"}
    assert photos["vertex"].operator == "op-a" and photos["vertex"].station == "station-2"
    assert photos["tricho-vertex"].operator == "op-b" and photos["tricho-vertex"].station == "station-2"
    assert photos["tricho-vertex"].site == "2 cm behind whorl"
    assert photos["vertex"].visit_date.isoformat() == "2026-01-05"
    assert [s.relative_path for s in scan.skipped] == ["P1/baseline/vertex.png"]
    assert scan.unmatched_manifest_rows == (4,)


@pytest.mark.parametrize("manifest,fragment", [
    ("patient,visit,view\nP1,baseline,vertex\nP1,baseline,vertex\n", "duplicate row"),
    ("patient,visit,view,visit_date\nP1,baseline,vertex,2026-01-01\n", "belongs on the visit's row"),
    ("patient,view\nP1,vertex\n", "needs the columns 'patient' and 'visit'"),
    ("patient,visit,operator\nP1,baseline,op\x07a\n", "control characters"),
    ("patient,visit\nP1,baseline,extra\n", "more values than columns"),
])
def test_bad_manifest_rows(tmp_path, protocol, manifest, fragment):
    (tmp_path / "manifest.csv").write_text(manifest)
    with pytest.raises(InputError, match=fragment):
        scan_archive(tmp_path, protocol)


def test_missing_archive(tmp_path, protocol):
    with pytest.raises(InputError, match="archive not found"):
        scan_archive(tmp_path / "none", protocol)
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match="not a folder"):
        scan_archive(tmp_path / "file", protocol)
