"""Start `python manage.py runbot --sandbox` as a child process and talk to it over HTTP (tests/test_sandbox*.py)."""

from __future__ import annotations

import http.cookiejar
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from json import dumps, loads
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
READY = "Press Ctrl-C to stop."


@dataclass
class Response:
    status_code: int
    text: str
    url: str

    def json(self):
        return loads(self.text)


class Http:
    """A small cookie-keeping HTTP client on the standard library (the tests need no extra package)."""

    def __init__(self) -> None:
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    @property
    def cookies(self) -> dict[str, str]:
        return {cookie.name: cookie.value for cookie in self.jar}

    def _send(self, request: urllib.request.Request, timeout: float) -> Response:
        try:
            with self.opener.open(request, timeout=timeout) as answer:
                return Response(answer.status, answer.read().decode(), answer.geturl())
        except urllib.error.HTTPError as error:
            return Response(error.code, error.read().decode(), error.geturl())

    def get(self, url: str, params: dict | None = None, timeout: float = 10) -> Response:
        if params:
            url = f"{url}?{urllib.parse.urlencode(params)}"
        return self._send(urllib.request.Request(url), timeout)

    def post(self, url: str, *, json: dict | None = None, data: dict | None = None, headers: dict | None = None,
             timeout: float = 10) -> Response:
        if json is not None:
            body, kind = dumps(json).encode(), "application/json"
        else:
            body, kind = urllib.parse.urlencode(data or {}).encode(), "application/x-www-form-urlencoded"
        # Django's CSRF check wants a Referer/Origin of the site itself on POSTs over HTTP too (same origin).
        origin = "{0.scheme}://{0.netloc}".format(urllib.parse.urlsplit(url))
        request = urllib.request.Request(url, data=body, method="POST", headers={
            "Content-Type": kind, "Origin": origin, "Referer": origin + "/", **(headers or {})})
        return self._send(request, timeout)


class SandboxProcess:
    """The sandbox as a child process on a free port, with its own database in `folder`."""

    def __init__(self, folder: Path, *extra: str, database_url: str | None = None) -> None:
        self.folder = folder
        self.db = folder / "sandbox.sqlite3"
        # A database the sandbox must never touch, whatever DATABASE_URL says.
        self.elsewhere = folder / "deployment.sqlite3"
        env = {**os.environ, "DATABASE_URL": database_url or f"sqlite:///{self.elsewhere}", "PYTHONUNBUFFERED": "1"}
        self.lines: list[str] = []
        self._ready = threading.Event()
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "runbot", "--sandbox", "--sandbox-db", str(self.db), "--port", "0", *extra],
            cwd=ROOT, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self._reader = threading.Thread(target=self._read, name="sandbox-output", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))
            if READY in line:
                self._ready.set()
        self._ready.set()  # the process ended: wake the waiter

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_ready(self, timeout: float = 60.0) -> str:
        """Wait for the 'Press Ctrl-C' line and return the page's base URL (http://127.0.0.1:PORT)."""
        if not self._ready.wait(timeout) or READY not in self.output:
            raise AssertionError(f"the sandbox did not start within {timeout} s:\n{self.output}")
        match = re.search(r"Sandbox page:\s+(http://127\.0\.0\.1:\d+)/sandbox/", self.output)
        assert match, self.output
        self.base = match[1]
        deadline = time.monotonic() + timeout
        while True:  # the line is printed once serving; poll the page anyway rather than trust it
            try:
                if Http().get(f"{self.base}/sandbox/", timeout=5).status_code == 200:
                    return self.base
            except OSError:  # not listening yet
                pass
            assert time.monotonic() < deadline, self.output
            time.sleep(0.05)  # a poll interval

    def password(self) -> str | None:
        match = re.search(r"created with password: (\S+)", self.output)
        return match[1] if match else None

    def stop(self, timeout: float = 30.0) -> int:
        """Ctrl-C, as a person would; return the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
                raise AssertionError(f"the sandbox did not stop on Ctrl-C within {timeout} s:\n{self.output}") from None
        self._reader.join(5)
        return self.process.returncode



def running_sandbox(folder: Path):
    """`runbot --sandbox` in `folder`, ready, stopped afterwards: the body of a test module's fixture."""
    process = SandboxProcess(folder)
    try:
        process.wait_ready()
        yield process
    finally:
        process.stop()

class Page:
    """The page's JSON API, as the page's script uses it (session cookie and CSRF header)."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.http = Http()
        assert self.http.get(f"{base}/sandbox/", timeout=10).status_code == 200
        self.csrf = self.http.cookies["csrftoken"]

    def state(self, user_id, channel=None) -> dict:
        params = {"as": str(user_id), **({"channel": str(channel)} if channel else {})}
        response = self.http.get(f"{self.base}/sandbox/api/state", params=params, timeout=10)
        assert response.status_code == 200, response.text
        return response.json()

    def act(self, user_id, **action) -> Response:
        return self.http.post(f"{self.base}/sandbox/api/act", json={"as": str(user_id), **action},
                              headers={"X-CSRFToken": self.csrf}, timeout=20)
