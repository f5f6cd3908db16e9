"""The annotated article in a real headless Chromium, as a reader uses it.

Needs Debian's ``chromium`` and ``chromium-driver`` packages (.ci/run installs them) and selenium
(the ``test`` extra), which drives /usr/bin/chromium through /usr/bin/chromedriver: no browser is
downloaded. Chromium runs with networking features off and a fresh profile; the site is opened from
file://, so any request to the network would show up as a console error.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from kb.cli import main

from test_site import write_kb

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"

pytestmark = pytest.mark.slow


@pytest.fixture
def browser(tmp_path, monkeypatch):
    monkeypatch.setenv("SE_OFFLINE", "true")  # Selenium Manager must never try to download a driver or browser
    assert Path(CHROMIUM).exists(), "install Debian's chromium package (apt-get install chromium chromium-driver)"
    assert Path(CHROMEDRIVER).exists(), "install Debian's chromium-driver package"
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run", "--disable-dev-shm-usage", "--window-size=1280,1000",
                f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def built(tmp_path, capsys) -> Path:
    kb_dir = write_kb(tmp_path / "kb")
    out = tmp_path / "site"
    assert main(["--kb", str(kb_dir), "-q", "build", "-o", str(out)]) == 0, capsys.readouterr().err
    return out


def _errors(driver) -> list[dict]:
    return [entry for entry in driver.get_log("browser") if entry["level"] in ("SEVERE", "ERROR")]


def _panel_text(driver) -> str:
    return driver.find_element(By.ID, "claim-panel").text


def test_select_a_claim_and_see_its_sources(browser, built, tmp_path):
    browser.get((built / "article" / "test.html").as_uri())
    panel = browser.find_element(By.ID, "claim-panel")
    assert panel.is_displayed(), "the script shows the panel"
    assert browser.execute_script("return document.documentElement.classList.contains('js')")

    mark = browser.find_element(By.CSS_SELECTOR, "mark.claim#claim-pijn")
    # the script turns the marks into keyboard-reachable controls (without it they are plain text)
    assert mark.get_attribute("role") == "button" and mark.get_attribute("tabindex") == "0"
    assert 'tabindex="0"' not in (built / "article" / "test.html").read_text(encoding="utf-8")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", mark)
    mark.click()
    WebDriverWait(browser, 10).until(lambda d: d.find_element(By.ID, "claim-panel").get_attribute("data-claim") == "pijn")
    text = _panel_text(browser)
    for expected in ("Het helpt bij pijn (Geneen et al.; 2017).", "Geneen et al. 2017", "ondersteunt gedeeltelijk", "laag",
                     "Exercise may improve pain severity", "overdreven", "Low certainty."):
        assert expected in text, expected
    assert mark.get_attribute("aria-expanded") == "true" and "selected" in mark.get_attribute("class")
    shot = tmp_path / "shots" / "article-panel.png"
    shot.parent.mkdir()
    assert browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # the nested claim inside another claim is selectable on its own
    inner = browser.find_element(By.CSS_SELECTOR, "mark.claim#claim-jong-en-oud")
    inner.click()
    WebDriverWait(browser, 10).until(lambda d: d.find_element(By.ID, "claim-panel").get_attribute("data-claim") == "jong-en-oud")
    assert "Lauersen et al. 2014" in _panel_text(browser)
    assert "selected" not in mark.get_attribute("class")

    # keyboard: Escape closes, Enter on a focused claim opens
    inner.send_keys(Keys.ESCAPE)
    WebDriverWait(browser, 10).until(lambda d: d.find_element(By.ID, "claim-panel").get_attribute("data-claim") is None)
    assert browser.find_element(By.CSS_SELECTOR, "#claim-panel .panel-title").text == "Overzicht"
    assert "Inleiding" in browser.find_element(By.CSS_SELECTOR, "#claim-panel .panel-toc").text  # the contents are back
    onveilig = browser.find_element(By.CSS_SELECTOR, "mark.claim#claim-onveilig")
    browser.execute_script("arguments[0].focus()", onveilig)
    onveilig.send_keys(Keys.ENTER)
    WebDriverWait(browser, 10).until(lambda d: d.find_element(By.ID, "claim-panel").get_attribute("data-claim") == "onveilig")
    # the hostile claim's markup shows as text and runs nothing
    assert "<svg onload=alert(1)>" in _panel_text(browser)
    assert browser.execute_script("return document.querySelectorAll('#claim-panel script, #claim-panel svg, #claim-panel img').length") == 0

    assert _errors(browser) == [], "console errors"


def test_no_console_errors_on_any_page(browser, built):
    for page in sorted(built.rglob("*.html")):
        browser.get(page.as_uri())
        assert browser.find_element(By.TAG_NAME, "h1").text.strip(), page
        assert _errors(browser) == [], page
    # nothing was fetched from outside the site
    urls = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert all(url.startswith("file://") for url in urls), urls


def test_narrow_screen_uses_a_bottom_sheet(browser, built):
    browser.set_window_size(400, 800)
    browser.get((built / "article" / "test.html").as_uri() + "#claim-preventie")
    WebDriverWait(browser, 10).until(lambda d: d.find_element(By.ID, "claim-panel").get_attribute("data-claim") == "preventie")
    position = browser.execute_script("return getComputedStyle(document.getElementById('claim-panel')).position")
    assert position == "fixed"
    client, scroll = browser.execute_script(
        "return [document.documentElement.clientWidth, document.documentElement.scrollWidth]")
    assert scroll <= client, f"the page scrolls sideways on a narrow screen ({scroll}px on {client}px)"
    assert "Lauersen et al. 2014" in _panel_text(browser)
    assert _errors(browser) == []


def test_the_real_site_fits_a_phone_and_has_no_console_errors(browser, tmp_path, capsys):
    """This repository's own knowledge base, every page at phone width: no sideways scrolling."""
    repo = Path(__file__).resolve().parent.parent
    out = tmp_path / "real"
    assert main(["--kb", str(repo), "-q", "build", "-o", str(out)]) == 0, capsys.readouterr().err
    browser.set_window_size(400, 900)
    pages = sorted(out.rglob("*.html"))
    assert len(pages) > 20
    for page in pages:
        browser.get(page.as_uri())
        client, scroll = browser.execute_script(
            "return [document.documentElement.clientWidth, document.documentElement.scrollWidth]")
        assert scroll <= client, f"{page.relative_to(out)} is {scroll}px wide on a {client}px screen"
        assert _errors(browser) == [], page


def _closed(driver) -> bool:
    return driver.find_element(By.ID, "claim-panel").get_attribute("data-claim") is None


def test_close_button_and_escape_close_the_panel_on_a_wide_screen(browser, built):
    """× and Escape close the panel and give focus back to the claim, without selecting it again
    (on a wide screen, focusing a claim selects it: close() must not reopen what it closed)."""
    browser.get((built / "article" / "test.html").as_uri())
    mark = browser.find_element(By.CSS_SELECTOR, "mark.claim#claim-pijn")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", mark)
    mark.click()
    WebDriverWait(browser, 10).until(lambda d: d.find_element(By.ID, "claim-panel").get_attribute("data-claim") == "pijn")
    browser.find_element(By.CSS_SELECTOR, "#claim-panel .panel-close").click()
    WebDriverWait(browser, 10).until(_closed)
    assert browser.find_element(By.CSS_SELECTOR, "#claim-panel .panel-title").text == "Overzicht"
    assert browser.execute_script("return document.activeElement.id") == "claim-pijn"
    assert mark.get_attribute("aria-expanded") == "false" and "selected" not in mark.get_attribute("class")

    # selected from the address (#claim-...), focus elsewhere: Escape closes it too
    browser.execute_script("document.activeElement.blur(); window.location.hash = '#claim-preventie'")
    WebDriverWait(browser, 10).until(lambda d: d.find_element(By.ID, "claim-panel").get_attribute("data-claim") == "preventie")
    browser.find_element(By.TAG_NAME, "body").send_keys(Keys.ESCAPE)
    WebDriverWait(browser, 10).until(_closed)
    assert browser.execute_script("return document.activeElement.id") == "claim-preventie"
    assert _errors(browser) == []


def test_narrow_screen_keeps_the_selected_claim_above_the_sheet(browser, built):
    browser.set_window_size(390, 844)
    browser.get((built / "article" / "test.html").as_uri())
    mark = browser.find_element(By.CSS_SELECTOR, "mark.claim#claim-pijn")
    # the claim low on the screen, where the sheet will cover it
    browser.execute_script("window.scrollBy({top: arguments[0].getBoundingClientRect().bottom - window.innerHeight + 40,"
                           " behavior: 'instant'})", mark)
    mark.click()
    WebDriverWait(browser, 10).until(lambda d: d.find_element(By.ID, "claim-panel").get_attribute("data-claim") == "pijn")

    def above_sheet(driver):
        return driver.execute_script(
            "var m = arguments[0].getBoundingClientRect(), s = document.getElementById('claim-panel').getBoundingClientRect();"
            " return m.top >= 0 && m.bottom <= s.top;", mark)
    WebDriverWait(browser, 10).until(above_sheet)
    assert _errors(browser) == []


def test_handouts_fit_a_phone(browser, tmp_path, capsys):
    """A patient handout at phone width: no sideways scrolling (a long group of (Author, year)
    citations wraps between its citations)."""
    repo = Path(__file__).resolve().parent.parent
    browser.set_window_size(390, 844)
    for lang, style in (("nl", "apa"), ("en", "apa"), ("en", "vancouver")):
        out = tmp_path / f"handout-{lang}-{style}.html"
        assert main(["--kb", str(repo), "-q", "render", "handout", "--lang", lang, "--style", style, "-o", str(out)]) == 0, capsys.readouterr().err
        browser.get(out.as_uri())
        client, scroll = browser.execute_script(
            "return [document.documentElement.clientWidth, document.documentElement.scrollWidth]")
        assert scroll <= client, f"{out.name} is {scroll}px wide on a {client}px screen"


def test_a_long_retraction_flag_fits_a_phone(browser, tmp_path, capsys):
    """'verklaring van bezorgdheid (expression of concern)' wraps in its flag instead of running
    past the edge of a phone's screen."""
    from test_site import BIB

    bib = BIB.replace("@article{geneen2017,", "@article{geneen2017,\n  retraction = {expression-of-concern},", 1)
    assert bib != BIB
    kb_dir = write_kb(tmp_path / "kb", bib=bib)
    out = tmp_path / "site"
    assert main(["--kb", str(kb_dir), "-q", "build", "-o", str(out)]) == 0, capsys.readouterr().err
    browser.set_window_size(360, 800)
    for page in ("claims/pijn.html", "references/geneen2017.html", "article/test.html"):
        browser.get((out / page).as_uri())
        assert "verklaring van bezorgdheid" in browser.find_element(By.TAG_NAME, "body").text, page
        client, scroll = browser.execute_script(
            "return [document.documentElement.clientWidth, document.documentElement.scrollWidth]")
        assert scroll <= client, f"{page} is {scroll}px wide on a {client}px screen"


def test_audit_charts_are_readable_on_a_phone(browser, built):
    """Every label and number of the audit's charts is drawn at least 12 px high at 390 px (an SVG
    chart scaled to the width of a phone drew them at about 7 px), and the page does not scroll
    sideways."""
    browser.set_window_size(390, 844)
    browser.get((built / "audit.html").as_uri())
    heights = browser.execute_script("""
        var out = [];
        document.querySelectorAll('.grid > section').forEach(function (box) {
          var walk = document.createTreeWalker(box, NodeFilter.SHOW_TEXT);
          for (var node = walk.nextNode(); node; node = walk.nextNode()) {
            if (!node.data.trim() || node.parentElement.closest('h2, title, desc')) { continue; }
            var range = document.createRange(); range.selectNodeContents(node);
            var rects = range.getClientRects();
            if (rects.length) { out.push([node.data.trim(), rects[0].height]); }
          }
        });
        return out;""")
    assert len(heights) >= 10, heights
    small = [(text, round(h, 1)) for text, h in heights if h < 12]
    assert small == [], small
    client, scroll = browser.execute_script(
        "return [document.documentElement.clientWidth, document.documentElement.scrollWidth]")
    assert scroll <= client, f"audit.html is {scroll}px wide on a {client}px screen"
