"""The review app in a real browser: Streamlit serving app.py over the sample archive's ledger,
driven by Playwright in Debian's Chromium (installed by the README's test command). One test
per page, in the order a clinic uses them; screenshots are kept in build/test-artifacts/app/."""
from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from photostation.ingest import ingest_archive
from photostation.ledger import open_ledger

from .conftest import NOW, ROOT

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = ROOT / "build" / "test-artifacts" / "app"
WAIT_MS = 120_000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served_app(tmp_path_factory, protocol):
    if not os.path.exists(CHROMIUM):
        pytest.fail("Chromium is not installed: run the README's test command (it installs Debian's chromium)")
    folder = tmp_path_factory.mktemp("app")
    archive = folder / "archive"
    shutil.copytree(ROOT / "sample_images", archive)
    db = folder / "ledger.db"
    ingest_archive(archive, open_ledger(str(db)), protocol, now=NOW)
    port = _free_port()
    env = dict(os.environ, PHOTOSTATION_DB=f"sqlite:///{db}")
    # Started from the repository root, so that .streamlit/config.toml (loopback, no usage
    # statistics, no developer menu) applies as it does at a clinic.
    server = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
                               "--server.port", str(port)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"{url}/_stcore/health", timeout=2)
            break
        except OSError:
            time.sleep(0.5)
    else:
        server.kill()
        pytest.fail("streamlit did not start")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    yield url, archive, db
    server.terminate()
    server.wait(timeout=20)


@pytest.fixture
def page(served_app):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        yield browser.new_page(viewport={"width": 1400, "height": 1100})
        browser.close()


def _shot(page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    assert (ARTIFACTS / f"{name}.png").stat().st_size > 10_000


def _no_traceback(page) -> None:
    body = page.inner_text("body")
    assert page.locator("[data-testid='stException']").count() == 0, body[:2000]
    assert "Page not found" not in body and "Traceback" not in body


def test_visits_page_shows_a_photo_with_its_verdict(served_app, page):
    url, _, _ = served_app
    page.goto(f"{url}/?patient=P003&visit=month-6&view=vertex")
    page.get_by_role("heading", name="Visits").wait_for(timeout=WAIT_MS)
    page.get_by_text("vertex: FAIL").first.wait_for(timeout=WAIT_MS)
    _no_traceback(page)
    _shot(page, "visits")


def test_compare_page_correction_and_sign_off(served_app, page):
    url, _, db = served_app
    page.goto(f"{url}/compare?patient=P001&pair=month-6/tricho-vertex")
    page.get_by_role("heading", name="Compare").wait_for(timeout=WAIT_MS)
    scale = page.get_by_label("Scale, mm per pixel of the baseline", exact=False)
    scale.fill("0.006247")
    scale.press("Enter")
    page.get_by_role("button", name="Compare", exact=True).click()
    page.get_by_text("Comparable (trichoscopy").first.wait_for(timeout=WAIT_MS)
    page.get_by_text("Density change:").first.wait_for(timeout=WAIT_MS)
    page.locator("[data-testid='stImage'] img").first.wait_for(timeout=WAIT_MS)
    _shot(page, "compare")
    page.get_by_role("tab", name="Wipe").click()
    page.get_by_text("Wipe: baseline on the left").first.wait_for(timeout=WAIT_MS)
    page.get_by_role("tab", name="Hairs and corrections").click()
    page.get_by_text("False hairs to remove").first.wait_for(timeout=WAIT_MS)
    remove = page.locator("[data-testid='stMultiSelect']").filter(has_text="False hairs to remove")
    box = remove.locator("input[role='combobox']")
    box.click()
    box.press("ArrowDown")  # opens the list
    box.fill("#1 (")
    page.get_by_role("option").filter(has_text=re.compile(r"^#1 \(")).first.click()
    page.keyboard.press("Escape")
    remove.get_by_text(re.compile(r"^#1 \(")).first.wait_for(timeout=WAIT_MS)
    correction = page.locator("[data-testid='stForm']").filter(has_text="Save the corrected count")
    correction.get_by_label("Your initials or staff ID").fill("DR1")
    correction.get_by_role("button", name="Save the corrected count").click()
    page.get_by_text("Corrected by DR1").first.wait_for(timeout=WAIT_MS)
    _shot(page, "compare-corrected")
    signing = page.locator("[data-testid='stForm']").filter(has_text="Sign off this comparison")
    signing.get_by_label("Your initials or staff ID").fill("DR1")
    signing.get_by_label("Note (no patient names)").fill("count checked on the overlay")
    signing.get_by_role("button", name="Sign off this comparison").click()
    page.get_by_text("signed off by DR1").first.wait_for(timeout=WAIT_MS)
    page.get_by_text("the corrected figures: count checked on the overlay").first.wait_for(timeout=WAIT_MS)
    _no_traceback(page)
    _shot(page, "compare-signed")
    from photostation.ledger import HairCorrection, SignOff

    factory = open_ledger(str(db), create=False)
    with factory() as session:
        assert session.query(HairCorrection).count() == 1
        assert session.query(SignOff).one().reviewer == "DR1"


def test_audit_page_draws_a_control_chart(served_app, page):
    url, _, _ = served_app
    page.goto(f"{url}/audit")
    page.get_by_role("heading", name="Audit").wait_for(timeout=WAIT_MS)
    page.get_by_text("findings").first.wait_for(timeout=WAIT_MS)
    page.get_by_role("tab", name="Drift").click()
    chart = page.locator("[data-testid='stVegaLiteChart']").first
    chart.wait_for(timeout=WAIT_MS)
    chart.locator("canvas, svg").first.wait_for(timeout=WAIT_MS)
    _no_traceback(page)
    _shot(page, "audit-drift")


def test_capture_page_checks_an_upload_and_accepts_it(served_app, page):
    url, archive, db = served_app
    page.goto(f"{url}/capture?visit=month-6&view=vertex&patient=P001")
    page.get_by_role("heading", name="Capture").wait_for(timeout=WAIT_MS)
    page.get_by_label("Operator (your initials or staff ID)").fill("op-anna")
    page.get_by_label("Operator (your initials or staff ID)").press("Enter")
    page.locator("[data-testid='stFileUploader'] input[type='file']").set_input_files(
        str(ROOT / "sample_images" / "P003" / "month-6" / "vertex.jpg"))
    page.get_by_text(re.compile(r"^FAIL: vertex of P001, month-6 \(checked in [0-9.]+ s\)")).wait_for(timeout=WAIT_MS)
    page.get_by_text(re.compile(r"camera\.iso: ISO 400 vs baseline 100")).first.wait_for(timeout=WAIT_MS)
    page.locator("[data-testid='stImage'] img").first.wait_for(timeout=WAIT_MS)
    _no_traceback(page)
    _shot(page, "capture-verdict")
    page.get_by_role("button", name="Retake").click()
    page.get_by_text("Recorded: retake of vertex for P001, month-6, by op-anna").wait_for(timeout=WAIT_MS)
    _shot(page, "capture-retake")
    from photostation.ledger import CaptureRecord

    factory = open_ledger(str(db), create=False)
    with factory() as session:
        assert [(r.decision, r.verdict) for r in session.query(CaptureRecord)] == [("retake", "fail")]
