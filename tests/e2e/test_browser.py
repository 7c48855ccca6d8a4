"""The HTML pages in a real browser: headless Chromium (Debian's `chromium` package, driven
by Playwright, never a downloaded browser) against a real `pserve` process.

The owner signs in, adds an item, edits its price, adjusts its stock and archives another;
a shopper registers, finds the new item, orders it and sees the order. Screenshots of the
admin table and the storefront are saved to $MINIMART_SCREENSHOTS (default var/screenshots/)
for a person to look at.

Without Chromium or Playwright the test skips, except under CI=true, where it fails.
Run it alone with `pytest -m e2e tests/e2e/test_browser.py`.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_pserve import (
    BIN,
    INI,
    child_environment,
    free_port,
    minimart,
    wait_until_healthy,
)
from tests.support.needs import require

try:
    from playwright.sync_api import Page, expect, sync_playwright
except ImportError:  # the check below skips (or, under CI, fails) with the reason
    sync_playwright = None

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
ROOT = Path(__file__).resolve().parents[2]
OWNER = ("owner@example.com", "an owner's long password")
SHOPPER = ("shopper@example.com", "a shopper's long password")


def screenshot_directory() -> Path:
    chosen = os.environ.get("MINIMART_SCREENSHOTS")
    directory = Path(chosen) if chosen else ROOT / "var" / "screenshots"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """pserve on a migrated SQLite store with the demo catalog and an admin account."""
    require(sync_playwright is not None, "Playwright for Python (pip install playwright)")
    require(CHROMIUM.exists(), "Chromium (apt-get install -y chromium)")
    tmp_path = tmp_path_factory.mktemp("browser")
    port = free_port()
    ini = tmp_path / "browser.ini"
    ini.write_text(INI.format(database=tmp_path / "minimart.sqlite", port=port))
    for argv in (("db", "upgrade"), ("load-demo",)):
        done = minimart(ini, *argv)
        assert done.returncode == 0, done.stderr
    created = subprocess.run(
        [str(BIN / "minimart"), "-c", str(ini), "create-account", "--email", OWNER[0],
         "--name", "Olivia Owner", "--role", "admin"],
        capture_output=True, text=True, timeout=60, check=False,
        env={**child_environment(), "MINIMART_PASSWORD": OWNER[1]})
    assert created.returncode == 0, created.stderr

    log = tmp_path / "pserve.log"
    with log.open("wb") as output:
        process = subprocess.Popen([str(BIN / "pserve"), str(ini)], stdout=output,
                                   stderr=subprocess.STDOUT, env=child_environment())
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(base, process, log)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture(scope="module")
def browser(site: str) -> Iterator[Any]:
    assert sync_playwright is not None
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM),
                                              args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def row_of(page: Page, name: str) -> Any:
    return page.locator("#items-table tbody tr").filter(has_text=name)


def owner_manages_the_catalog(page: Page, site: str, shots: Path) -> None:
    page.goto(f"{site}/admin")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Fadmin$"))
    page.fill("#f-email", OWNER[0])
    page.fill("#f-password", OWNER[1])
    page.click("#login-form button[type=submit]")
    expect(page).to_have_url(f"{site}/admin")
    expect(page.locator("h1")).to_have_text("Dashboard")
    expect(page.locator("svg rect.bar")).to_have_count(30)

    page.click("nav.subnav >> text=Items")
    page.click("text=+ Add an item")
    page.fill("#f-name", "Matcha green tea")
    page.fill("#f-description", "Stone-ground, ceremonial grade")
    page.fill("#f-price", "14.50")
    page.fill("#f-stock", "6")
    page.click("#item-form button[type=submit]")
    expect(page.locator(".flash")).to_have_text("Added Matcha green tea.")
    expect(row_of(page, "Matcha green tea")).to_contain_text("$14.50")

    row_of(page, "Matcha green tea").locator("text=Edit").click()
    expect(page.locator("#f-price")).to_have_value("14.50")
    page.fill("#f-price", "15.25")
    page.click("#item-form button[type=submit]")
    expect(row_of(page, "Matcha green tea")).to_contain_text("$15.25")

    row_of(page, "Matcha green tea").locator("text=Stock").click()
    page.fill("#f-delta", "10")
    page.fill("#f-reason", "Delivery from the importer")
    page.click("#stock-form button[type=submit]")
    expect(page.locator(".flash")).to_have_text("Matcha green tea: stock is now 16.")

    row_of(page, "Sourdough loaf").locator("text=Archive").click()
    expect(page.locator("h1")).to_have_text("Archive Sourdough loaf?")
    page.click("text=Yes, archive it")
    expect(page.locator(".flash")).to_contain_text("Archived Sourdough loaf")
    expect(row_of(page, "Sourdough loaf")).to_have_count(0)
    page.screenshot(path=str(shots / "admin-items.png"), full_page=True)

    page.goto(f"{site}/admin")
    page.screenshot(path=str(shots / "admin-dashboard.png"), full_page=True)
    page.click("#logout-form button")
    expect(page.locator(".nav")).to_contain_text("Sign in")


def shopper_orders_the_new_item(page: Page, site: str, shots: Path) -> None:
    page.goto(site)
    expect(page.locator(".product h2").filter(has_text="Sourdough loaf")).to_have_count(0)
    page.click("text=Create account")
    page.fill("#f-name", "Sam Shopper")
    page.fill("#f-email", SHOPPER[0])
    page.fill("#f-password", SHOPPER[1])
    page.click("#register-form button[type=submit]")
    expect(page.locator(".flash")).to_contain_text("Welcome, Sam Shopper")

    page.fill("#f-q", "matcha")
    page.click("#filters button[type=submit]")
    card = page.locator(".product").filter(has_text="Matcha green tea")
    expect(card).to_contain_text("$15.25")
    expect(card).to_contain_text("16 in stock")
    card.click()
    page.fill("#f-quantity", "2")
    page.click("#order-form button[type=submit]")
    expect(page).to_have_url(re.compile(r"/orders/[0-9a-f]{32}$"))
    expect(page.locator(".status-line")).to_contain_text("Pending payment")
    expect(page.locator("table")).to_contain_text("Matcha green tea")
    expect(page.locator(".totals .grand")).to_contain_text("$30.50")

    page.click("nav.nav >> text=My orders")
    expect(page.locator("table tbody tr")).to_have_count(1)
    expect(page.locator("table")).to_contain_text("Matcha green tea")

    page.goto(site)
    expect(page.locator(".product").filter(has_text="Matcha green tea")).to_contain_text(
        "14 in stock")
    page.screenshot(path=str(shots / "storefront.png"), full_page=True)


def test_the_owner_runs_the_shop_and_a_shopper_orders_in_a_real_browser(site, browser):
    shots = screenshot_directory()
    for name in ("admin-items.png", "admin-dashboard.png", "storefront.png"):
        (shots / name).unlink(missing_ok=True)

    owner = browser.new_context(viewport={"width": 1280, "height": 900})
    owner_manages_the_catalog(owner.new_page(), site, shots)
    owner.close()
    shopper = browser.new_context(viewport={"width": 1280, "height": 900})
    shopper_orders_the_new_item(shopper.new_page(), site, shots)
    shopper.close()

    for name in ("admin-items.png", "admin-dashboard.png", "storefront.png"):
        assert (shots / name).stat().st_size > 10_000, name


def test_a_narrow_phone_screen_gets_the_same_storefront(site, browser):
    phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = phone.new_page()
    page.goto(site)

    expect(page.locator(".product").first).to_be_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page scrolls sideways ({width}px)"
    page.screenshot(path=str(screenshot_directory() / "storefront-phone.png"), full_page=True)
    phone.close()
