"""The review app in a real browser: Streamlit serving app.py over the sample archive's ledger,
driven by Playwright in Debian's Chromium (installed by the README's test command)."""
from __future__ import annotations

import os
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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served_app(tmp_path_factory, protocol):
    if not os.path.exists(CHROMIUM):
        pytest.fail("Chromium is not installed: run the README's test command (it installs Debian's chromium)")
    folder = tmp_path_factory.mktemp("app")
    db = folder / "ledger.db"
    ingest_archive(ROOT / "sample_images", open_ledger(str(db)), protocol, now=NOW)
    port = _free_port()
    env = dict(os.environ, PHOTOSTATION_DB=f"sqlite:///{db}", STREAMLIT_BROWSER_GATHER_USAGE_STATS="false")
    server = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.headless",
                               "true", "--server.port", str(port), "--server.address", "127.0.0.1",
                               "--global.developmentMode", "false"], env=env, stdout=subprocess.DEVNULL,
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
    yield url
    server.terminate()
    server.wait(timeout=20)


def test_visits_compare_and_audit_pages_in_chromium(served_app, tmp_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(served_app)
        page.get_by_role("heading", name="Visits").wait_for(timeout=60000)
        # The first visit's first photo is shown with its verdict and metadata.
        page.get_by_text("tricho-midscalp: ✅ pass").first.wait_for(timeout=30000)
        page.get_by_text("FotoFinder").first.wait_for(timeout=30000)
        page.get_by_text("Compare", exact=True).first.click()
        page.get_by_role("heading", name="Compare").wait_for(timeout=30000)
        page.get_by_role("button", name="Compare").click()
        page.get_by_text("comparable").first.wait_for(timeout=90000)
        page.screenshot(path=str(tmp_path / "compare.png"))
        page.get_by_text("Audit flags", exact=True).first.click()
        page.get_by_role("heading", name="Audit flags").wait_for(timeout=30000)
        page.get_by_text("open flags").first.wait_for(timeout=30000)
        flags = page.inner_text("body")
        browser.close()
    assert (tmp_path / "compare.png").stat().st_size > 10_000
    # The metric under "open flags" counts P003's drifted visit (dozens of warn/fail checks).
    count = int(flags.split("open flags", 1)[1].split()[0])
    assert count >= 20
