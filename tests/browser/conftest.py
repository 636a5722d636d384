"""A headless Chromium for the browser tests: Debian's /usr/bin/chromium, driven by its own chromedriver
(`./manage_all.sh test` installs both with apt-get when they are missing). Nothing is downloaded: the driver's
path is given, and Selenium Manager, which would otherwise look for one online, is kept offline."""

import os

import pytest
from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
PATIENCE = 90  # seconds: pages of a loaded 2-core machine, and a browser that starts in 20 s there


@pytest.fixture(scope="session")
def browser():
    os.environ["SE_OFFLINE"] = "true"
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                     "--window-size=1280,1000"):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(PATIENCE)
    yield driver
    driver.quit()


def wait_until(driver, check, what: str):
    """Wait for `check(driver)` to be truthy and return it. The console reloads itself every few seconds, so an
    element found a moment ago may be gone: that only means looking again."""
    return WebDriverWait(driver, PATIENCE, ignored_exceptions=(NoSuchElementException, StaleElementReferenceException)
                         ).until(check, f"waited {PATIENCE}s for {what}")
