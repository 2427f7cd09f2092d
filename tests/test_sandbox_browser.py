"""The sandbox page in a real browser (Playwright with Debian's Chromium), through a whole story.

A member opens a ticket from the panel; staff claim it and add the helper, who claims it too; staff close it; the
helper sees their balance risen with /balance; staff book a pad and end it with its button. A screenshot of every
step that fails is saved in a temporary folder named in the failure.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from botproject.sandbox import demo
from tests.sandbox_support import SandboxProcess, running_sandbox

CHROMIUM = "/usr/bin/chromium"
STAFF, HELPER, MEMBER = (demo.person(k) for k in ("staff", "helper", "member"))


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    yield from running_sandbox(tmp_path_factory.mktemp("sandbox-browser"))


@pytest.fixture
def page(sandbox):
    shots = Path(tempfile.mkdtemp(prefix="sandbox-screenshots-"))
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.set_default_timeout(10_000)
        expect.set_options(timeout=10_000)
        page.goto(f"{sandbox.base}/sandbox/")
        page.shots, page.errors = shots, errors
        try:
            yield page
        except BaseException:
            raise
        finally:
            browser.close()


class Story:
    """Steps on the page, each saving a screenshot when it fails."""

    def __init__(self, page: Page, sandbox: SandboxProcess) -> None:
        self.page, self.sandbox = page, sandbox

    def step(self, name: str, action) -> None:
        try:
            action()
        except Exception as exc:
            shot = self.page.shots / f"{name}.png"
            self.page.screenshot(path=str(shot), full_page=True)
            raise AssertionError(f"step {name!r} failed ({exc}); screenshot: {shot}\n"
                                 f"page errors: {self.page.errors}\nsandbox output:\n{self.sandbox.output[-3000:]}"
                                 ) from exc

    def act_as(self, person: demo.Person) -> None:
        self.page.select_option("#member", value=str(person.user_id))
        expect(self.page.locator("#member-note")).to_contain_text(person.note)

    def open_channel(self, name: str) -> None:
        self.page.locator("#channels button", has_text=re.compile(rf"^# {name}")).first.click()
        expect(self.page.locator("#channel-title")).to_contain_text(name)

    def command(self, path: str, **options) -> None:
        self.page.select_option("#command", value=path)
        for name, value in options.items():
            field = self.page.locator(f"#command-options [data-option='{name}']")
            if field.evaluate("node => node.tagName") == "SELECT":
                field.select_option(value=str(value))
            else:
                field.fill(str(value))
        self.page.click("#run-command")

    def messages(self):
        return self.page.locator("#messages")


def test_a_ticket_is_opened_claimed_and_closed_and_a_pad_is_booked_and_ended(sandbox, page):
    story = Story(page, sandbox)

    def open_ticket():
        story.act_as(MEMBER)
        story.open_channel("tickets")
        expect(story.messages()).to_contain_text("Open a ticket")
        story.messages().locator("button", has_text="General help").click()
        expect(story.messages()).to_contain_text("Your ticket is ready")
        expect(story.messages().locator(".only-you")).to_have_count(1)
        story.open_channel("ticket-")
        expect(story.messages()).to_contain_text("Welcome to your ticket")

    def staff_claim_and_add_the_helper():
        story.act_as(STAFF)
        story.open_channel("ticket-")
        story.messages().locator("button[data-custom-id^='ticket:claim:']").click()
        expect(story.messages()).to_contain_text(f"@{STAFF.display} claimed this ticket (1/2 helpers)")
        story.command("ticket add", member=HELPER.user_id)
        expect(story.messages()).to_contain_text(f"@{HELPER.display} can now see this ticket")

    def helper_claims():
        story.act_as(HELPER)
        story.open_channel("ticket-")
        story.messages().locator("button[data-custom-id^='ticket:claim:']").click()
        expect(story.messages()).to_contain_text(f"@{HELPER.display} claimed this ticket (2/2 helpers)")

    def staff_close():
        story.act_as(STAFF)
        story.open_channel("ticket-")
        story.messages().locator("button[data-custom-id^='ticket:close:']").first.click()
        expect(story.messages()).to_contain_text("Ticket closed")
        expect(story.messages()).to_contain_text(f"@{HELPER.display} +5")

    def helper_balance_rose():
        story.act_as(HELPER)
        story.open_channel("general")
        story.command("balance")
        answer = story.messages().locator(".message.ephemeral", has_text=f"Points: {HELPER.display}").last
        expect(answer.locator(".field", has_text="Balance")).to_contain_text("5")
        expect(answer).to_contain_text(f"{HELPER.display} used /balance")

    def pad_booked_and_ended():
        story.act_as(STAFF)
        story.open_channel("general")
        story.command("training", pad=3, starts="in 10 minutes")
        expect(story.messages()).to_contain_text("Announced in #pads")
        story.open_channel("pads")
        announcement = story.messages().locator(".message", has_text="Pad 3").last
        expect(announcement).to_contain_text("in 10 minutes")
        announcement.locator("button", has_text="End session").click()
        expect(story.messages()).to_contain_text("Pad 3 is free again")
        story.command("pads")
        expect(story.messages().locator(".message.ephemeral", has_text="Pads").last).to_contain_text("Pad 3 · free")

    for name, action in (("open-ticket", open_ticket), ("staff-claim", staff_claim_and_add_the_helper),
                         ("helper-claim", helper_claims), ("staff-close", staff_close),
                         ("helper-balance", helper_balance_rose), ("pad", pad_booked_and_ended)):
        story.step(name, action)
    assert page.errors == []


def test_text_from_members_is_shown_as_text_not_markup(sandbox, page):
    story = Story(page, sandbox)

    def write_markup():
        story.act_as(MEMBER)
        story.open_channel("general")
        page.fill("#message-text", "<img src=x onerror=\"document.title='owned'\"> <b>bold?</b> "
                                   "[click](javascript:document.title='owned') **really**")
        page.click("#message-form button")
        written = story.messages().locator(".message", has_text="bold?").last
        expect(written).to_contain_text("<b>bold?</b> [click](javascript:document.title='owned')")
        assert written.locator("img, b, a").count() == 0
        expect(written.locator("strong")).to_have_text("really")  # Discord's own markdown, as text nodes
        assert page.title() != "owned"

    story.step("markup", write_markup)


def test_a_modal_is_filled_and_a_select_is_picked(sandbox, page):
    story = Story(page, sandbox)
    owner = demo.person("owner")

    def fill_the_email_form():
        story.act_as(MEMBER)
        story.open_channel("general")
        story.command("email")
        expect(page.locator("#modal")).to_be_visible()
        expect(page.locator("#modal-title")).to_have_text("Your e-mail address")
        page.locator("#modal-fields [data-field='email']").fill("mia@example.com")
        page.click("#modal-form button[type='submit']")
        expect(page.locator("#modal")).to_be_hidden()
        expect(story.messages()).to_contain_text("Saved. Order notices will go to mia@example.com.")

    def pick_a_role_in_setup():
        story.act_as(owner)
        story.open_channel("general")
        story.command("setup")
        answer = story.messages().locator(".message.ephemeral", has_text="Server setup").last
        helper_role = answer.locator(".embed .field", has_text="Helper role")
        expect(helper_role).to_contain_text("✅ @Helper")
        answer.locator("select[data-custom-id='setup:role:helper']").select_option(label="@Verified")
        expect(helper_role).to_contain_text("✅ @Verified")
        answer.locator("select[data-custom-id='setup:role:helper']").select_option(label="@Helper")
        expect(helper_role).to_contain_text("✅ @Helper")

    story.step("email-modal", fill_the_email_form)
    story.step("setup-select", pick_a_role_in_setup)
    assert page.errors == []


def test_a_member_links_their_roblox_account_through_the_fake_roblox(sandbox, page):
    story = Story(page, sandbox)
    newcomer = demo.person("newcomer")

    def verify():
        story.act_as(newcomer)
        story.open_channel("general")
        story.command("verify", username="MaxTheNoob")
        answer = story.messages().locator(".message.ephemeral", has_text="Verify your Roblox account").last
        words = answer.locator("pre").inner_text().strip()
        assert len(words.split()) >= 3, words
        page.click("#roblox summary")
        page.select_option("#roblox-account", label="MaxTheNoob")
        page.fill("#roblox-about", f"Hello! {words}")
        page.click("#roblox-form button[type='submit']")
        answer.locator("button", has_text="Verify").click()
        expect(story.messages()).to_contain_text("You are verified as MaxTheNoob")
        expect(page.locator("#member-note")).to_contain_text("Verified")  # the bot gave the verified role

    story.step("verify", verify)
    assert page.errors == []


def test_the_bot_answers_in_the_members_discord_language(sandbox, page):
    story = Story(page, sandbox)

    def balance_in_vietnamese():
        story.act_as(MEMBER)
        story.open_channel("general")
        page.select_option("#locale", value="vi")
        story.command("balance")
        expect(story.messages().locator(".message.ephemeral").last).to_contain_text(f"Điểm: {MEMBER.display}")
        page.select_option("#locale", value="en-US")
        story.command("balance")
        expect(story.messages().locator(".message.ephemeral").last).to_contain_text(f"Points: {MEMBER.display}")

    story.step("language", balance_in_vietnamese)
