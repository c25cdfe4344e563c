"""``gridstore browse`` in a real headless Chromium (Debian's chromium and chromium-driver, Selenium).

The tests load every page, apply a filter and check the shown count against
``gridstore count``, page through a split, shuffle it, open an image, check its
cells are drawn pixel-exact in the ARC palette and toggle its overlays; the
browser's console must stay free of errors (a blocked script or style, a CSP
violation, a failed request). Screenshots go to $GRIDSTORE_BROWSE_SCREENSHOTS
(docs/browse for the README's) or a temporary directory.

Without chromium and chromedriver the tests skip, saying so, unless
GRIDSTORE_REQUIRE_BROWSER=1 (CI sets it), which turns a missing browser into a
failure.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from gridstore.cli import main
from gridstore.config import make_config
from gridstore.plan import Plan
from gridstore.read import open_store
from gridstore.viz import colorize
from gridstore.write.versions import create_version
from tests.helpers_browse import running

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
_MISSING = (
    "Debian's chromium and chromium-driver (apt-get install chromium chromium-driver) and selenium"
)
if not (CHROMIUM and DRIVER) or os.environ.get("GRIDSTORE_NO_BROWSER"):
    if os.environ.get("GRIDSTORE_REQUIRE_BROWSER") == "1":
        raise RuntimeError(f"GRIDSTORE_REQUIRE_BROWSER=1 but the browser tests need {_MISSING}")
    pytest.skip(f"no browser: these tests need {_MISSING}", allow_module_level=True)

from selenium import webdriver  # noqa: E402 - only once the browser is known to be there
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,1000",
    "--force-device-scale-factor=1",
    "--hide-scrollbars",
]
WHERE = "object_type=blob object_colour=3"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str, str]:
    path = tmp_path_factory.mktemp("browser") / "datasets"
    a = create_version(
        path,
        Plan(num_images=3_000, seed=3),
        name="2026-01-01-v1",
        engine="serial",
        show_progress=False,
    )
    other = Plan(num_images=1_000, seed=4, config=make_config(type_weights={"blob": 0.1}))
    b = create_version(path, other, name="2026-01-02-v1", engine="serial", show_progress=False)
    return str(path), a["version"], b["version"]


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = os.environ.get("GRIDSTORE_BROWSE_SCREENSHOTS")
    path = Path(out) if out else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def browser(store: tuple[str, str, str]) -> Iterator[tuple[Any, str]]:
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="gridstore-chromium-")  # an empty profile each run
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    with running(store[0]) as server:
        driver = webdriver.Chrome(service=Service(str(DRIVER)), options=options)
        driver.set_page_load_timeout(60)
        try:
            yield driver, server.url.rstrip("/")
        finally:
            driver.quit()
            shutil.rmtree(profile, ignore_errors=True)


def _no_console_errors(driver: Any) -> None:
    errors = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == [], errors


def _wait(driver: Any, test: Any, seconds: float = 30) -> Any:
    return WebDriverWait(driver, seconds, poll_frequency=0.05).until(test)


def _cells(driver: Any) -> list[int]:
    return [
        int(e.text.lstrip("#")) for e in driver.find_elements(By.CSS_SELECTOR, "#grid a.cell span")
    ]


def test_store_and_version_pages(
    browser: tuple[Any, str], store: tuple[str, str, str], shots: Path
) -> None:
    driver, url = browser
    _, a, b = store
    driver.get(url + "/")
    rows = driver.find_elements(By.CSS_SELECTOR, "table.versions tbody tr")
    assert [r.find_element(By.TAG_NAME, "td").text for r in rows] == [a, b]
    assert "2,400" in rows[0].text and "3,000" in rows[0].text  # train and total
    driver.save_screenshot(str(shots / "store.png"))
    _no_console_errors(driver)
    driver.find_element(By.LINK_TEXT, a).click()
    _wait(driver, lambda d: d.current_url.endswith(f"/v/{a}"))
    charts = driver.find_elements(By.CSS_SELECTOR, "figure.chart svg")
    assert (
        len(charts) >= 3 * 6
    )  # per split: objects, types, colours, sizes, lines, patterns, pixels
    assert driver.find_elements(By.CSS_SELECTOR, "svg .expect")  # the expectations are drawn
    driver.save_screenshot(str(shots / "version.png"))
    _no_console_errors(driver)


def test_a_filter_shows_the_count_of_gridstore_count(
    browser: tuple[Any, str], store: tuple[str, str, str], shots: Path
) -> None:
    driver, url = browser
    path, a, _ = store
    driver.get(f"{url}/v/{a}/train")
    box = driver.find_elements(By.CSS_SELECTOR, "input[name=where]")[0]
    box.send_keys(WHERE)
    driver.find_element(By.CSS_SELECTOR, "form.filter button[type=submit]").click()
    _wait(driver, lambda d: "where=object_type" in d.current_url)
    assert "seed=" not in driver.current_url  # an empty seed stays out of the shared URL
    count = _wait(
        driver,
        lambda d: (e := d.find_element(By.ID, "count")).get_attribute("data-state") == "done" and e,
    )
    cli = CliRunner().invoke(
        main, ["count", a, "--store", path, "--split", "train", "--where", WHERE, "--json"]
    )
    expected = json.loads(cli.output)["splits"]["train"]["count"]
    assert count.text == f"{expected:,}"
    assert len(_cells(driver)) == min(100, expected)
    driver.save_screenshot(str(shots / "split.png"))
    _no_console_errors(driver)
    shared = driver.current_url  # the URL alone brings the same view back
    driver.get(f"{url}/")
    driver.get(shared)
    assert (
        driver.find_elements(By.CSS_SELECTOR, "input[name=where]")[0].get_attribute("value")
        == WHERE
    )


def test_a_bad_filter_is_shown_on_the_page(
    browser: tuple[Any, str], store: tuple[str, str, str]
) -> None:
    driver, url = browser
    path, a, _ = store
    driver.get(f"{url}/v/{a}/train")
    driver.find_elements(By.CSS_SELECTOR, "input[name=where]")[0].send_keys("object_type=circle")
    driver.find_element(By.CSS_SELECTOR, "form.filter button[type=submit]").click()
    error = _wait(driver, lambda d: d.find_elements(By.ID, "error"))[0]
    cli = CliRunner().invoke(main, ["count", a, "--store", path, "--where", "object_type=circle"])
    assert error.text == cli.output.strip()  # the command line's line, word for word
    assert not driver.find_elements(By.ID, "grid")
    logged = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert len(logged) == 1 and "status of 400 (Bad Request)" in logged[0], logged


def test_paging_and_shuffling_a_split(
    browser: tuple[Any, str], store: tuple[str, str, str]
) -> None:
    driver, url = browser
    _, a, _ = store
    driver.get(f"{url}/v/{a}/train")
    assert _cells(driver) == list(range(100))
    driver.find_element(By.ID, "next").click()
    _wait(driver, lambda d: "page=2" in d.current_url)
    assert _cells(driver) == list(range(100, 200))
    driver.find_element(By.ID, "prev").click()
    _wait(driver, lambda d: "page=1" in d.current_url)
    driver.find_element(By.ID, "shuffle").click()
    _wait(driver, lambda d: re.search(r"seed=\d+", d.current_url))
    shuffled = _cells(driver)
    assert len(set(shuffled)) == 100 and shuffled != list(range(100))
    driver.refresh()  # the seed is in the URL: the same shuffle again
    assert _cells(driver) == shuffled
    _no_console_errors(driver)


def test_an_image_drawn_pixel_exact_with_its_overlays(
    browser: tuple[Any, str], store: tuple[str, str, str], shots: Path
) -> None:
    driver, url = browser
    path, a, _ = store
    split = open_store(path).version(a)["train"]
    i = int(np.argmax(split.annotations["num_objects"][:100]))  # a busy one, for the screenshot
    driver.get(f"{url}/v/{a}/train")
    driver.find_elements(By.CSS_SELECTOR, "#grid a.cell")[i].click()
    _wait(driver, lambda d: d.current_url.endswith(f"/v/{a}/train/{i}"))
    stage = driver.find_element(By.ID, "stage")
    image = split.images[i]
    shot = np.asarray(Image.open(io.BytesIO(stage.screenshot_as_png)).convert("RGB"))
    cell = shot.shape[0] / image.shape[0]
    centres = ((np.arange(image.shape[0]) + 0.5) * cell).astype(int)
    assert (shot[np.ix_(centres, centres)] == colorize(image)).all()  # each cell its ARC colour
    instances, boxes = driver.find_element(By.ID, "instances"), driver.find_element(By.ID, "boxes")
    assert not instances.is_displayed() and not boxes.is_displayed()
    driver.find_element(By.ID, "toggle-instances").click()
    driver.find_element(By.ID, "toggle-boxes").click()
    assert instances.is_displayed() and boxes.is_displayed()
    objects = driver.find_elements(By.CSS_SELECTOR, "table.objects tbody tr")
    stored = split.annotations["num_objects"][i]
    assert len(objects) == int(stored) == len(boxes.find_elements(By.TAG_NAME, "rect"))
    driver.save_screenshot(str(shots / "image.png"))
    driver.find_element(By.ID, "toggle-instances").click()
    assert not instances.is_displayed()
    _no_console_errors(driver)


def test_the_diff_page(browser: tuple[Any, str], shots: Path) -> None:
    driver, url = browser
    driver.get(f"{url}/")
    driver.find_element(By.CSS_SELECTOR, "form.diffform button").click()
    _wait(driver, lambda d: "/diff?" in d.current_url)
    verdict = driver.find_element(By.ID, "verdict").text
    assert verdict.startswith("changed:") and "generator.type_weights.blob" in verdict
    assert driver.find_elements(By.CSS_SELECTOR, "table.stats strong.differs")
    driver.save_screenshot(str(shots / "diff.png"))
    _no_console_errors(driver)
