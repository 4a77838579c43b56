"""End to end in headless Chromium (Debian's chromium, driven by Playwright): what a person sees.

The city's district areas turn dark where the independent assessment leaves them without supply
and the critical loads are named; the 72-hour board has its shared time axis; an error replaces
stale results; the runs page lists a run when it ends; the schedule builder's downloads carry the
chosen start date; /docs renders with the network cut off; forms work from the keyboard.
Screenshots go to test-artifacts/."""

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
DARK_JS = ("[...document.getElementById('map').data].filter(t => t.meta && t.meta.kind === 'district' "
           "&& t.meta.state === 'dark').map(t => t.meta.name)")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A dashboard on a free loopback port and one Chromium page (cut off from everything else)."""
    from gridshield.web import create_app
    from tests.web_server import running

    ARTIFACTS.mkdir(exist_ok=True)
    app = create_app(tmp_path_factory.mktemp("browser") / "runs.duckdb")
    with running(app) as base, playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        ctx = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
        # offline: any request that is not to the dashboard itself is refused
        ctx.route("**/*", lambda route: route.continue_() if route.request.url.startswith(base)
                  else route.abort())
        page = ctx.new_page()
        yield base, page
        browser.close()


def test_damage_darkens_districts_and_names_critical_loads(site):
    base, page = site
    page.goto(base + "/")
    page.click("#case-synthetic-city")
    page.wait_for_url("**/case/synthetic-city")
    page.wait_for_function("document.getElementById('map').dataset.state === 'intact'", timeout=60_000)
    assert page.evaluate(DARK_JS) == []
    page.screenshot(path=str(ARTIFACTS / "1-city-intact.png"))
    page.check("input.site[value='site:S110-Fairmont']")
    page.click("#assess")
    page.wait_for_function("document.getElementById('map').dataset.state === 'damaged'", timeout=60_000)
    # independent reference: the impact engine's dark 10 kV buses
    import gridshield as gs

    grid = gs.load_case("synthetic-city")
    ref = gs.assess_damage(grid, ["site:S110-Fairmont"])
    dark = {str(grid.buses.name[b]).removesuffix(" 10 kV") for b in range(len(grid.buses))
            if grid.buses.base_kv[b] == 10.0 and not ref.bus_energised[b]}
    assert set(page.evaluate(DARK_JS)) == dark == {"Fairmont", "Pinecrest"}
    rows = page.eval_on_selector_all("#districts tr[data-state='dark']", "rs => rs.map(r => r.dataset.district)")
    assert set(rows) == dark
    listed = page.text_content("#critlist")
    for lid in ref.critical_lost:
        assert str(grid.loads.name[grid.loads.index[lid]]) in listed
    assert "MW lost" in page.text_content("#lost") and "MW demand" in page.text_content("#lost")
    page.screenshot(path=str(ARTIFACTS / "2-city-damaged.png"), full_page=True)


def test_board_renders_on_one_time_axis(site):
    base, page = site
    page.fill("#strike", "2026-01-12T02:00")
    page.click("#boardbtn")
    page.wait_for_function("document.getElementById('board').dataset.state === 'board'", timeout=120_000)
    layout = page.evaluate("(() => { const l = document.getElementById('board').layout; "
                           "return {type: l.xaxis4.type, range: l.xaxis4.range, matches: l.xaxis.matches, "
                           "title: l.xaxis4.title.text}; })()")
    assert layout["type"] == "date" and layout["range"][0][:16].replace("T", " ") == "2026-01-12 02:00", layout
    assert layout["matches"] == "x4" and "strike at" in layout["title"]
    assert page.locator("#board g.x4tick").count() > 3  # the shared time axis is drawn with its ticks
    assert "back after" in page.text_content("#critlist")
    page.locator("#board").screenshot(path=str(ARTIFACTS / "3-board-72h.png"))


def test_next_loss_table_after_the_strike(site):
    """The next-loss panel lists the worst further losses of what is left standing (not secure,
    or cutting off load), with their outcome, as the API computed them."""
    base, page = site
    page.click("#nextbtn")
    page.wait_for_function("document.getElementById('nextloss').dataset.state === 'done'", timeout=120_000)
    text = page.text_content("#nextloss")
    assert "after site:S110-Fairmont" in text and "contingencies solved" in text
    rows = page.locator("#worst tr[data-status]")
    assert rows.count() > 0
    assert all(rows.nth(i).get_attribute("data-status") != "secure" or float(rows.nth(i).get_attribute("data-cut")) > 0
               for i in range(rows.count()))
    page.locator("#nextloss").screenshot(path=str(ARTIFACTS / "3b-next-loss.png"))


def test_error_replaces_stale_results_and_keyboard_submit(site):
    base, page = site
    assert page.locator("#summary .card").count() >= 3  # results from the previous test are on screen
    page.uncheck("input.site[value='site:S110-Fairmont']")
    page.focus("#ids")
    page.keyboard.type("branch:nope")
    page.keyboard.press("Enter")  # the form submits from the keyboard
    page.wait_for_function("document.getElementById('err').textContent.includes('nope')", timeout=60_000)
    assert page.locator("#summary .card").count() == 0 and page.text_content("#tables") == ""
    assert page.evaluate("document.getElementById('map').dataset.state") is None
    assert page.evaluate("(document.getElementById('map').data || []).length") == 0
    page.screenshot(path=str(ARTIFACTS / "4-error.png"))


def test_runs_page_updates_when_the_run_ends(site):
    base, page = site
    page.goto(base + "/runs")
    assert page.locator("#runrows tr").count() == 0
    page.fill("#samples", "10")
    page.click("#start")
    page.wait_for_function("document.getElementById('jobstatus') && "
                           "['done','failed'].includes(document.getElementById('jobstatus').textContent)",
                           timeout=120_000)
    assert page.text_content("#jobstatus") == "done"
    page.wait_for_function("document.querySelectorAll('#runrows tr').length === 1", timeout=30_000)
    assert "95 % CI" in page.text_content("#job") and "mean of 10 sampled waves" in page.text_content("#job")
    page.screenshot(path=str(ARTIFACTS / "5-run-done.png"))


def test_schedule_builder_downloads_carry_the_start_date(site):
    base, page = site
    page.goto(base + "/schedule")
    page.fill("#start", "2026-03-02T00:00")
    page.fill("#supply", "2000")
    page.click("#deficitbtn")
    page.wait_for_function("document.getElementById('deficit').value.length > 0", timeout=60_000)
    assert page.input_value("#start") == "2026-03-02T00:00"
    page.click("#build")
    page.wait_for_selector("#dl a.dl", timeout=60_000)
    names = page.eval_on_selector_all("#dl a.dl", "as => as.map(a => a.download)")
    assert "schedule-2026-03-02.csv" in names and "slots-2026-03-02.json" in names
    assert all("2026-03-02" in n for n in names)
    with page.expect_download() as dl:
        page.click("a.dl[download='schedule-2026-03-02.csv']")
    text = Path(dl.value.path()).read_text()
    assert text.splitlines()[1].split(",")[1].startswith("2026-03-02T00:00")
    page.screenshot(path=str(ARTIFACTS / "6-schedule.png"), full_page=True)


def test_api_docs_render_offline(site):
    base, page = site
    page.goto(base + "/docs")
    page.wait_for_selector(".swagger-ui .info .title", timeout=60_000)
    assert "gridshield dashboard" in page.text_content(".swagger-ui .info .title")
    page.screenshot(path=str(ARTIFACTS / "7-api-docs.png"))
