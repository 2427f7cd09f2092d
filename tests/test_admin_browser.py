"""The admin in a real browser: a staff user of one guild logs in, sees only that guild's overview and rows.

Playwright for Python drives Debian's Chromium (`playwright install` cannot download browsers here).
The test never skips: a session fixture installs what is missing, or fails saying what to install.
"""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission

from tests.conftest import staff_user
from tests.test_admin import PASSWORD, make_guild

CHROMIUM = "/usr/bin/chromium"
PLAYWRIGHT = "playwright==1.65.2"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
# Installing Chromium on a fresh machine takes minutes; the page itself takes seconds.
INSTALL_TIMEOUT = 900


def _run(command: list[str]) -> str | None:
    """Run an install step; None when it worked, else its last output lines."""
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=INSTALL_TIMEOUT, check=False)
    return None if done.returncode == 0 else "\n".join((done.stdout + done.stderr).strip().splitlines()[-5:])


@pytest.fixture(scope="session")
def browser_prerequisites() -> None:
    """Make sure Debian's Chromium and the Playwright package are there, installing them when missing."""
    if not Path(CHROMIUM).exists():
        if shutil.which("apt-get") is None:
            pytest.fail(f"{CHROMIUM} is missing and there is no apt-get to install it: install Chromium there.")
        # A fresh machine has no package lists yet, so update before installing.
        error = _run(["apt-get", "update", "-qq"]) or _run(["apt-get", "install", "-y", "-qq", "chromium"])
        if error or not Path(CHROMIUM).exists():
            pytest.fail(f"could not install Chromium (apt-get install -y chromium, as root):\n{error}")
    try:
        importlib.import_module("playwright.sync_api")
    except ImportError:
        error = _run([sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check", PLAYWRIGHT])
        importlib.invalidate_caches()
        try:
            importlib.import_module("playwright.sync_api")
        except ImportError:
            pytest.fail(f"could not install the Playwright package (pip install {PLAYWRIGHT}):\n{error}")


def in_a_thread(function, *args, timeout: float = 120):
    """Run `function` in a fresh thread and return its result (or raise its exception).

    Playwright's sync API runs an event loop in the thread that uses it, and Django refuses ORM calls
    from a thread with a running loop; a thread of its own keeps the two apart without weakening that check.
    """
    outcome: dict = {}

    def target():
        try:
            outcome["result"] = function(*args)
        except BaseException as error:  # handed to the test's thread below
            outcome["error"] = error

    thread = threading.Thread(target=target, name="playwright", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        pytest.fail(f"the browser did not finish within {timeout} s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]


def browse(base_url: str, screenshot: Path) -> dict:
    """Log in as staff_a through the admin's form, read the overview and the configuration list."""
    from playwright.sync_api import sync_playwright

    seen: dict = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(20_000)
            page.goto(f"{base_url}/admin/")
            seen["login_url"] = page.url
            page.fill("#id_username", "staff_a")
            page.fill("#id_password", PASSWORD)
            page.click("input[type=submit]")
            page.wait_for_selector(".guild-overview")
            seen["overview_url"] = page.url
            seen["guilds"] = page.locator(".guild-row").evaluate_all("rows => rows.map(r => r.dataset.guild)")
            seen["members"] = page.inner_text('[data-guild="111"] [data-card="members"] .overview-value')
            seen["points"] = page.inner_text('[data-guild="111"] [data-card="points_week"]')
            seen["app_list"] = page.locator("#content-main .app-botproject").count()
            page.screenshot(path=str(screenshot), full_page=True)
            page.goto(f"{base_url}/admin/botproject/guildconfig/")
            seen["config_rows"] = page.locator("#result_list tbody tr").all_inner_texts()
            seen["config_page"] = page.content()
        finally:
            browser.close()
    return seen


@pytest.mark.timeout(INSTALL_TIMEOUT + 180)
def test_staff_user_sees_only_their_guild_in_the_browser(browser_prerequisites, live_server, tmp_path):
    guild_a = make_guild(111, "Alpha", 42, 1000)
    make_guild(222, "Bravo", 7, 2000)
    staff_user("staff_a", [guild_a], Permission.objects.filter(
        content_type__app_label="botproject", codename__regex=r"^(view|change)_"), password=PASSWORD)

    screenshot = tmp_path / "overview.png"
    seen = in_a_thread(browse, live_server.url, screenshot)

    assert "/admin/login/" in seen["login_url"]
    assert seen["overview_url"].rstrip("/").endswith("/admin")
    assert seen["guilds"] == ["111"]
    assert seen["members"] == "42"
    assert "Points issued in the last 7 days" in seen["points"] and "0" in seen["points"]  # measured
    assert seen["app_list"] == 1
    assert len(seen["config_rows"]) == 1 and "Alpha" in seen["config_rows"][0]
    assert "Bravo" not in seen["config_page"]
    assert screenshot.stat().st_size > 0
