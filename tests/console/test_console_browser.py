"""The web console in a real headless Chromium (Debian's chromium + chromium-driver, driven by
selenium): a topic is created, messages produced, a group consumes and commits, and every page
must show the right topic, end offsets and lag. A screenshot of each page is saved under
test-artifacts/console/."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import (
    NoSuchElementException,
    StaleElementReferenceException,
    TimeoutException,
)
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.wait import WebDriverWait

from tests.http.conftest import FAST_GROUPS, consume_all, create_topic, produce
from tests.support.broker_process import BrokerProcess

ARTIFACTS = Path(__file__).parents[2] / "test-artifacts" / "console"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1300,1400",
)
TOPIC, GROUP = "console-orders", "console-group"


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        message = "Debian's chromium and chromium-driver are needed (scripts/install-test-tools.sh)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    profile = tempfile.mkdtemp(prefix="rafka-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def console_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    with BrokerProcess(tmp_path_factory.mktemp("console") / "data", *FAST_GROUPS) as process:
        create_topic(process.bootstrap, TOPIC, partitions=3)
        produce(
            process.bootstrap,
            TOPIC,
            [(0, f"order-{i}".encode(), f'{{"amount": {i}}}'.encode(), [("source", b"test")])
             for i in range(10)]
            + [(1, None, b"plain value", []) for _ in range(5)],
        )
        assert consume_all(process.bootstrap, TOPIC, GROUP, 15) == 15
        produce(process.bootstrap, TOPIC, [(1, b"late", b"not consumed yet", [])] * 4)
        yield process


def _text(driver: WebDriver, css: str) -> str:
    return str(driver.find_element(By.CSS_SELECTOR, css).text)


def wait_for(driver: WebDriver, css: str, expected: str | Callable[[str], bool]) -> None:
    """Wait until the element at `css` shows `expected` (the page re-renders every 2 s)."""

    def shown(d: WebDriver) -> bool:
        text = _text(d, css)
        return expected(text) if callable(expected) else text == expected

    try:
        WebDriverWait(
            driver, 15, ignored_exceptions=(NoSuchElementException, StaleElementReferenceException)
        ).until(shown)
    except TimeoutException:
        try:
            seen = _text(driver, css)
        except NoSuchElementException:
            seen = "<missing>"
        raise AssertionError(f"{css}: expected {expected!r}, page shows {seen!r}") from None


def screenshot(driver: WebDriver, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    assert driver.save_screenshot(str(path))
    assert path.stat().st_size > 10_000


def test_overview_shows_the_topic(browser: WebDriver, console_broker: BrokerProcess) -> None:
    browser.get(console_broker.http_url + "/#/")
    row = f'#topics tr[data-topic="{TOPIC}"]'
    wait_for(browser, f'{row} td[data-field="partition_count"]', "3")
    wait_for(browser, f'{row} td[data-field="messages"]', "19")
    wait_for(browser, f'{row} td[data-field="messages_in_total"]', "19")
    wait_for(browser, '[data-field="topics"]', lambda text: text in ("2", "3"))
    wait_for(browser, "#status", "ready")
    assert browser.find_element(By.ID, "throughput-chart").size["height"] > 100
    # The live rate: messages produced now show up as messages/s in at the next refresh.
    produce(console_broker.bootstrap, "console-live", [(0, None, b"x", [])] * 200)
    wait_for(browser, '[data-field="rate_in"]', lambda text: text not in ("", "0"))
    screenshot(browser, "overview")


def test_topic_page_shows_end_offsets_and_messages(
    browser: WebDriver, console_broker: BrokerProcess
) -> None:
    browser.get(f"{console_broker.http_url}/#/topics/{TOPIC}")
    wait_for(browser, "#topic-name", TOPIC)
    for partition, end in ((0, "10"), (1, "9"), (2, "0")):
        row = f'#partitions tr[data-partition="{partition}"]'
        wait_for(browser, f'{row} td[data-field="log_end_offset"]', end)
        wait_for(browser, f'{row} td[data-field="log_start_offset"]', "0")
    wait_for(browser, 'tr[data-config="retention.ms"] td:nth-child(2)', "604800000")
    newest_of_p0 = '#messages tr[data-message-partition="0"][data-offset="9"]'
    wait_for(browser, f'{newest_of_p0} td[data-field="key"]', "order-9")
    wait_for(browser, f'{newest_of_p0} td[data-field="value"]', '{"amount": 9}')
    wait_for(browser, f'{newest_of_p0} td[data-field="headers"]', "source=test")
    wait_for(browser, f'{newest_of_p0} td[data-field="timestamp"]', lambda t: t[:2] == "20")
    # Read-only by default: no way to delete the topic from the page.
    assert not browser.find_elements(By.ID, "delete-topic")
    screenshot(browser, "topic")


def test_groups_pages_show_lag(browser: WebDriver, console_broker: BrokerProcess) -> None:
    browser.get(console_broker.http_url + "/#/groups")
    row = f'#groups tr[data-group="{GROUP}"]'
    wait_for(browser, f'{row} td[data-field="state"]', "Empty")
    wait_for(browser, f'{row} td[data-field="total_lag"]', "4")
    screenshot(browser, "groups")

    browser.find_element(By.CSS_SELECTOR, f"{row} a").click()
    wait_for(browser, "#group-id", GROUP)
    for partition, committed, lag in ((0, "10", "0"), (1, "5", "4")):
        lag_row = f'#lag tr[data-topic="{TOPIC}"][data-partition="{partition}"]'
        wait_for(browser, f'{lag_row} td[data-field="committed_offset"]', committed)
        wait_for(browser, f'{lag_row} td[data-field="lag"]', lag)
    wait_for(browser, '[data-field="total_lag"]', "4")
    assert browser.find_element(By.ID, "lag-chart").size["height"] > 100
    screenshot(browser, "group")
