"""The Roblox client against a fake users API over real HTTP: bad input never leaves, errors become clear refusals."""

import asyncio
import email.utils
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import translation

from botproject.sandbox.fake_roblox import FakeRoblox
from verification.exceptions import InvalidUsername, RobloxBusy, RobloxUserNotFound
from verification.roblox import RobloxClient, clean_username


@pytest.fixture
def fake(settings):
    """A fresh fake Roblox API; the client reads ROBLOX_USERS_API_URL at call time."""
    with FakeRoblox() as server:
        settings.ROBLOX_USERS_API_URL = server.url
        yield server


def run(steps):
    """Run `steps(client)` with a fresh client on a fresh event loop, closing the client afterwards."""
    async def main():
        async with RobloxClient(timeout=2.0) as client:
            return await steps(client)
    return asyncio.run(main())


BAD_USERNAMES = {
    "space inside": "John Doe",
    "tab inside": "John\tDoe",
    "two characters": "ab",
    "one character": "a",
    "empty": "",
    "only spaces": "   ",
    "21 characters": "a" * 21,
    "1000 characters": "x" * 1000,
    "Vietnamese letters": "Nguyễn",
    "CJK": "名前名前",
    "emoji": "ab😀c",
    "fullwidth letters": "ｒｏｂｌｏｘ",
    "Arabic-Indic digits": "abc١٢٣",
    "zero-width space": "ab\u200bcd",
    "leading underscore": "_abc",
    "trailing underscore": "abc_",
    "two underscores": "a_b_c",
    "double underscore": "a__b",
    "hyphen": "ab-cd",
    "dot": "ab.cd",
    "newline": "ab\ncd",
    "mention": "<@123456789012345678>",
}


@pytest.mark.parametrize("name", BAD_USERNAMES.values(), ids=BAD_USERNAMES.keys())
def test_bad_usernames_are_refused_before_any_request(fake, name):
    async def steps(client):
        with pytest.raises(InvalidUsername) as refused:
            await client.user_by_username(name)
        return refused.value

    error = run(steps)
    assert fake.requests == []
    with translation.override("en"):
        assert error.user_message().startswith("That is not a Roblox username. Usernames have 3 to 20 characters")
    with pytest.raises(InvalidUsername):
        clean_username(name)


@pytest.mark.parametrize("raw,clean", [("abc", "abc"), ("a" * 20, "a" * 20), ("John_Doe", "John_Doe"),
                                       ("  Builderman ", "Builderman"), ("@Builderman", "Builderman"),
                                       ("R2D2", "R2D2")])
def test_good_usernames_pass_trimmed(raw, clean):
    assert clean_username(raw) == clean


def test_a_username_resolves_to_the_account_with_one_request_as_roblox_expects(fake):
    user = fake.add_user("Builderman", display_name="The Builder")
    found = run(lambda client: client.user_by_username("builderMAN"))
    assert (found.id, found.name, found.display_name) == (user.id, "Builderman", "The Builder")
    assert fake.requests == [
        ("POST", "/v1/usernames/users", {"usernames": ["builderMAN"], "excludeBannedUsers": False})]


def test_an_unknown_username_and_an_unknown_id_are_not_found(fake):
    async def steps(client):
        with pytest.raises(RobloxUserNotFound) as name_missing:
            await client.user_by_username("NobodyAtAll")
        with pytest.raises(RobloxUserNotFound):
            await client.profile(424242)
        return name_missing.value

    error = run(steps)
    with translation.override("en"):
        assert error.user_message().startswith("Roblox has no account called NobodyAtAll.")
    assert [r[:2] for r in fake.requests] == [("POST", "/v1/usernames/users"), ("GET", "/v1/users/424242")]


def test_a_400_means_not_found_too(fake):
    user = fake.add_user("Odd")
    fake.fail("400")

    async def steps(client):
        with pytest.raises(RobloxUserNotFound):
            await client.user_by_username("Odd")
        with pytest.raises(RobloxUserNotFound):
            await client.profile(user.id)

    run(steps)
    assert len(fake.requests) == 2


def test_banned_accounts_are_found_and_marked(fake):
    user = fake.add_user("Gone", banned=True, description="bye")

    async def steps(client):
        found = await client.user_by_username("Gone")
        return found, await client.profile(found.id)

    found, profile = run(steps)
    assert found.id == user.id
    assert (profile.is_banned, profile.description, profile.name) == (True, "bye", "Gone")


def test_profiles_are_cached_briefly_and_a_fresh_read_sees_a_new_description(fake):
    user = fake.add_user("Cached", description="first")

    async def steps(client):
        first = await client.profile(user.id)
        fake.set_description(user.id, "second")
        cached = await client.profile(user.id)
        fresh = await client.profile(user.id, fresh=True)
        again = await client.profile(user.id)
        return first, cached, fresh, again

    first, cached, fresh, again = run(steps)
    assert (first.description, cached.description, fresh.description, again.description) == (
        "first", "first", "second", "second")
    assert len(fake.requests_to("/v1/users/")) == 2


def test_a_429_says_when_to_try_again_and_the_client_waits_that_long(fake):
    fake.add_user("Busy")
    fake.fail("429", retry_after="7")

    async def steps(client):
        with pytest.raises(RobloxBusy) as first:
            await client.user_by_username("Busy")
        fake.fail(None)  # Roblox is fine again, but it asked us to wait 7 s: the client does not ask meanwhile
        with pytest.raises(RobloxBusy) as second:
            await client.user_by_username("Busy")
        return first.value, second.value

    first, second = run(steps)
    with translation.override("en"):
        assert first.user_message() == "Roblox is busy, try again in 7 s. Nothing was changed."
    assert 1 <= second.params["seconds"] <= 7
    assert len(fake.requests) == 1
    with translation.override("vi"):
        assert first.user_message() == "Roblox đang bận, hãy thử lại sau 7 giây. Chưa có gì thay đổi."


def test_a_429_with_an_http_date_or_without_retry_after(fake):
    later = email.utils.format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    fake.fail("429", retry_after=later)

    async def dated(client):
        with pytest.raises(RobloxBusy) as refused:
            await client.profile(1)
        return refused.value

    assert 25 <= run(dated).params["seconds"] <= 31
    fake.fail("429")
    assert run(dated).params["seconds"] == 10  # no Retry-After: our own default wait


def test_a_server_error_is_busy_and_the_next_request_goes_out(fake):
    user = fake.add_user("Flaky")
    fake.fail("500")

    async def steps(client):
        with pytest.raises(RobloxBusy) as refused:
            await client.profile(user.id)
        fake.fail(None)
        return refused.value, await client.profile(user.id)

    error, profile = run(steps)
    assert error.params["seconds"] == 10
    assert profile.name == "Flaky"
    assert len(fake.requests) == 2


def test_no_answer_within_the_timeout_is_busy(fake):
    fake.fail("hang")

    async def steps():
        async with RobloxClient(timeout=0.3) as client:
            with pytest.raises(RobloxBusy) as refused:
                await client.user_by_username("Sleepy")
            return refused.value

    assert asyncio.run(steps()).params["seconds"] == 10
    assert len(fake.requests) == 1


def test_nobody_listening_is_busy(settings):
    with FakeRoblox() as gone:
        url = gone.url
    settings.ROBLOX_USERS_API_URL = url

    async def steps(client):
        with pytest.raises(RobloxBusy) as refused:
            await client.user_by_username("Anyone")
        return refused.value

    assert run(steps).params["seconds"] == 10


def test_ids_that_cannot_be_roblox_ids_are_not_requested(fake):
    async def steps(client):
        for bad in (0, -5, True, "12"):
            with pytest.raises(RobloxUserNotFound):
                await client.profile(bad)

    run(steps)
    assert fake.requests == []


def test_a_429_on_one_endpoint_blocks_only_that_endpoint_and_only_briefly(fake):
    from verification.roblox import BUSY_SHARED_MAX_SECONDS

    user = fake.add_user("Shared")
    fake.fail("429", retry_after="600", only="/v1/usernames/")

    async def steps(client):
        with pytest.raises(RobloxBusy) as first:
            await client.user_by_username("Shared")
        profile = await client.profile(user.id)  # the other endpoint is not busy
        with pytest.raises(RobloxBusy) as second:  # the same endpoint waits, but not Roblox's 600 s
            await client.user_by_username("Shared")
        return first.value, profile, second.value

    first, profile, second = run(steps)
    assert first.params["seconds"] == 600  # the member who met the 429 hears what Roblox said
    assert profile.name == "Shared"
    assert 1 <= second.params["seconds"] <= BUSY_SHARED_MAX_SECONDS <= 30
    assert len(fake.requests_to("/v1/usernames/")) == 1
