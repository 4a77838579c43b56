"""End-to-end in headless Chromium (Debian's chromium, driven by Playwright): pick the synthetic city,
damage a site, see the map change, start a small run and see it complete. Screenshots go to
test-artifacts/."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

playwright = pytest.importorskip("playwright.sync_api")

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium not installed (.ci/run installs it)"),
]
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def test_dashboard_end_to_end(tmp_path):
    from gridshield.web import create_app
    from tests.web_server import running

    ARTIFACTS.mkdir(exist_ok=True)
    app = create_app(tmp_path / "runs.duckdb")
    with running(app) as base, playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1300, "height": 950})
        page.goto(base + "/")
        page.click("#case-synthetic-city")
        page.wait_for_selector("#map .main-svg", timeout=60_000)
        page.screenshot(path=str(ARTIFACTS / "1-city-intact.png"))
        page.locator(".site").first.check()
        page.click("#assess")
        page.wait_for_selector("#lost", timeout=60_000)
        assert page.evaluate("document.getElementById('map').dataset.state") == "damaged"
        traces = page.evaluate("document.getElementById('map').data.map(t => t.name)")
        assert any(t.startswith("buses:") for t in traces)
        page.screenshot(path=str(ARTIFACTS / "2-city-damaged.png"))
        page.goto(base + "/runs")
        page.fill("#samples", "10")
        page.click("#start")
        page.wait_for_function("document.getElementById('jobstatus') && "
                               "['done','failed'].includes(document.getElementById('jobstatus').textContent)",
                               timeout=120_000)
        assert page.text_content("#jobstatus") == "done"
        page.screenshot(path=str(ARTIFACTS / "3-run-done.png"))
        browser.close()
