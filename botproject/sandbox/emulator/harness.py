"""EmulatorThread: run the emulator (and the bot) on a private event loop for synchronous pytest tests."""
from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import inspect
import threading
from collections.abc import Callable
from typing import Any

from .server import Emulator
from .world import World, build_guild

_ASYNC = ("slash", "autocomplete", "click", "select", "submit_modal", "send_interaction", "wait_for",
          "wait_for_request", "close_gateway", "stop")
_SYNC = ("add_guild", "add_bot", "remove_guild", "set_guild", "member_join", "member_leave", "set_member_roles",
         "set_member", "add_role", "set_role", "delete_role", "add_channel", "add_category", "set_overwrite",
         "delete_channel", "user_message", "user_dm", "user_edit_message", "user_delete_message", "add_user",
         "invalidate_session", "request_reconnect", "inject", "hold", "set_rate_limit", "clear_rate_limits",
         "set_dms_closed", "permissions_for", "guild_permissions", "can_view", "messages", "message", "channel",
         "channels", "member", "dms", "commands", "command", "roles", "bot_role", "requests_to", "events_named",
         "identified", "build_payload", "redirect_discord_py", "make_world")


class EmulatorThread:
    """Owns a daemon thread running an event loop with a started Emulator; sync wrappers for tests."""

    def __init__(self, timeout: float = 10.0, **emulator_kwargs):
        self.timeout = timeout
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run_loop, name="discord-emulator", daemon=True)
        self._thread.start()
        self.emu: Emulator = self.run(self._start(emulator_kwargs))

    def _run_loop(self) -> None:
        """Thread body: run the loop forever."""
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    @staticmethod
    async def _start(kwargs: dict) -> Emulator:
        """Create and start the emulator on the loop."""
        return await Emulator(**kwargs).start()

    # ---- generic runners ------------------------------------------------------------------
    def submit(self, coro) -> concurrent.futures.Future:
        """Schedule a coroutine on the loop; return a concurrent future (e.g. the running bot)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def run(self, coro, timeout: float | None = None) -> Any:
        """Run a coroutine on the loop and return its result."""
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError("EmulatorThread.run() called on the emulator loop itself; await the coroutine instead")
        return self.submit(coro).result(timeout or self.timeout)

    def call(self, fn: Callable, *args, timeout: float | None = None, **kwargs) -> Any:
        """Call fn(*args, **kwargs) on the loop (awaiting it if it is a coroutine function) and return the result.

        A `timeout` goes to fn when fn takes one (e.g. wait_for, click), and the outer wait gets 5 s more.
        """
        if timeout is not None and _takes_timeout(fn):
            kwargs["timeout"] = timeout
            timeout = timeout + 5
        if threading.current_thread() is self._thread:  # e.g. h.messages(...) inside a wait_for predicate
            if inspect.iscoroutinefunction(fn):
                raise RuntimeError(f"{fn.__name__} is async; on the emulator loop use `await h.emu.{fn.__name__}(...)`")
            return fn(*args, **kwargs)
        async def runner():
            result = fn(*args, **kwargs)
            return await result if inspect.isawaitable(result) else result
        return self.run(runner(), timeout)

    def get(self, fn: Callable[[], Any]) -> Any:
        """Evaluate fn() on the loop thread (thread-safe state reads)."""
        return self.call(fn)

    def wait(self, rec, timeout: float = 5.0):
        """Sync InteractionRecord.wait."""
        return self.call(rec.wait, timeout)

    def build_guild(self, name: str = "Test Guild", locale: str = "en-US", **kwargs) -> World:
        """Sync build_guild on the loop."""
        return self.call(build_guild, self.emu, name=name, locale=locale, **kwargs)

    def stop(self) -> None:
        """Stop the emulator, cancel leftover tasks and end the thread."""
        if not self.loop.is_running():
            return
        try:
            self.run(self.emu.stop())
        finally:
            async def cancel_rest():
                tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
                for t in tasks:
                    t.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
            try:
                self.run(cancel_rest())
            finally:
                self.loop.call_soon_threadsafe(self.loop.stop)
                self._thread.join(5)

    def __enter__(self) -> EmulatorThread:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def __getattr__(self, name: str):
        """Fallback: any other emulator attribute (values read on the loop; callables wrapped)."""
        if name.startswith("__") or name in ("emu", "loop", "_thread"):
            raise AttributeError(name)
        attr = getattr(self.emu, name)
        if callable(attr):
            return functools.partial(self.call, attr)
        return self.get(lambda: getattr(self.emu, name))


def _takes_timeout(fn: Callable) -> bool:
    """Whether fn accepts a `timeout` keyword (named, or through **kwargs)."""
    try:
        parameters = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == "timeout" or p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)


def _make(name: str) -> Callable:
    """A named sync wrapper that runs Emulator.<name> on the loop."""
    doc = getattr(Emulator, name).__doc__

    def wrapper(self, *args, **kwargs):
        return self.call(getattr(self.emu, name), *args, **kwargs)
    wrapper.__name__, wrapper.__doc__ = name, f"Sync: {doc}"
    return wrapper


for _name in _ASYNC + _SYNC:
    if _name not in ("stop",):
        setattr(EmulatorThread, _name, _make(_name))
