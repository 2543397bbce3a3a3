"""The HTML page in a real browser: headless Chromium renders its MathML and SVG figures,
and nothing runs off the page.  Skips, saying why, without Selenium or Chromium."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from symconv.draw.drawing import drawings_of, pictures
from symconv.kinds import ConvSpec
from symconv.render import render
from symconv.symbolic.derive import derive

CHROMIUM = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
DRIVER = "/usr/bin/chromedriver"
INSTALL = "Debian: apt-get install chromium chromium-driver; pip install selenium"

MEASURE = """
const box = e => e.getBoundingClientRect();
const scrolls = e => { for (let p = e.parentElement; p; p = p.parentElement) {
    const o = getComputedStyle(p).overflowX; if (o === 'auto' || o === 'scroll') return true; }
    return false; };
const width = document.documentElement.clientWidth;
return {
  maths: [...document.querySelectorAll('math')].map(m => [box(m).width, box(m).height]),
  fractions: [...document.querySelectorAll('mfrac')].map(m => box(m).height),
  svgs: [...document.querySelectorAll('svg')].map(s => [box(s).width, box(s).height,
          getComputedStyle(s).visibility, getComputedStyle(s).display]),
  page: [document.documentElement.scrollWidth, width],
  overflowing: [...document.body.querySelectorAll('*')]
      .filter(e => !scrolls(e) && box(e).right > width + 1).map(e => e.tagName),
};
"""


def browser():
    webdriver = pytest.importorskip(
        "selenium.webdriver", reason=f"Selenium is not installed ({INSTALL})"
    )
    binary = next((path for path in CHROMIUM if Path(path).exists()), None)
    if binary is None or not Path(DRIVER).exists() and shutil.which("chromedriver") is None:
        pytest.skip(f"no Chromium and ChromeDriver here ({INSTALL})")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1100,900",
    ):
        options.add_argument(flag)
    service = webdriver.ChromeService(
        executable_path=DRIVER if Path(DRIVER).exists() else shutil.which("chromedriver")
    )
    return webdriver.Chrome(options=options, service=service)


def test_html_page_renders_mathml_and_figures_in_chromium(tmp_path) -> None:
    pytest.importorskip(
        "latex2mathml", reason="--format html needs latex2mathml (pip install symconv[html])"
    )
    pytest.importorskip(
        "markdown_it", reason="--format html needs markdown-it-py (pip install symconv[html])"
    )
    spec = ConvSpec(input_size=(5, 5), kernel_size=3, stride=2, padding=((1, 0), (0, 1)))
    derivation = derive(spec)
    page = render(derivation, "html", pictures=pictures(drawings_of(derivation), "html"))
    path = tmp_path / "derivation.html"
    path.write_text(page, encoding="utf-8")
    driver = browser()
    try:
        driver.get(path.as_uri())
        found = driver.execute_script(MEASURE)
        driver.save_screenshot(str(tmp_path / "derivation.png"))
    finally:
        driver.quit()
    assert found["maths"] and all(w > 0 and h > 0 for w, h in found["maths"])
    assert found["fractions"] and max(found["fractions"]) > 20  # stacked: MathML laid out
    assert len(found["svgs"]) == len(drawings_of(derivation)[0].figures)
    for width, height, visibility, display in found["svgs"]:
        assert width > 100 and height > 50 and visibility == "visible" and display != "none"
    scroll_width, client_width = found["page"]
    assert scroll_width <= client_width, "the page scrolls sideways"
    assert found["overflowing"] == []
    assert (tmp_path / "derivation.png").stat().st_size > 10_000
