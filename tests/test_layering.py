"""Dependencies point one way: calibration <- photostation <- pipelines <- CLI and app (app.py, app_pages/)."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from .conftest import ROOT

# package -> packages of this project it must not import
FORBIDDEN = {
    "calibration": {"photostation", "pipelines", "photostation_cli", "app", "app_pages", "streamlit", "sqlalchemy"},
    "photostation": {"pipelines", "photostation_cli", "app", "app_pages", "streamlit"},
    "pipelines": {"photostation_cli", "app", "app_pages", "streamlit"},
}


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text("utf-8"))
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_imports_point_one_way(package):
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, package
    wrong = {f.relative_to(ROOT).as_posix(): sorted(imported_roots(f) & FORBIDDEN[package]) for f in files}
    assert not {k: v for k, v in wrong.items() if v}


def test_calibration_does_no_io():
    banned = {"open", "imread", "imwrite", "read_bytes", "write_bytes"}
    for f in sorted((ROOT / "calibration").rglob("*.py")):
        names = {n.attr if isinstance(n, ast.Attribute) else n.id for n in ast.walk(ast.parse(f.read_text()))
                 if isinstance(n, (ast.Name, ast.Attribute))}
        assert not names & banned, f
