"""Issue 13 point 5: safe production defaults (secret key, HTTPS, pinger endpoints that take no body)."""

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db.backends.signals import connection_created

from botproject.bot.status import runtime
from botproject.bot.web import build_app
from tests.conftest import manage

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION = {"DEBUG": "false", "SECRET_KEY": "k3y-" + "x9Qv7Lm2Zp8Rt4Wn6Yb1Hc5Jd3Fg0Ks" * 2,
              "ALLOWED_HOSTS": "bot.example.com", "CSRF_TRUSTED_ORIGINS": "https://bot.example.com",
              "HTTPS": "true"}
LINE = ("SECRET_KEY is not set: with DEBUG off the bot and the web site need a secret key "
        "(set SECRET_KEY in the environment or .env).")


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items()
             if k not in {"SECRET_KEY", "DEBUG", "HTTPS", "ALLOWED_HOSTS", "CSRF_TRUSTED_ORIGINS", "DATABASE_URL"}}
    return subprocess.run([sys.executable, *args], cwd=ROOT, env={**clean, **env}, capture_output=True, text=True,
                          timeout=120)


def test_runbot_refuses_to_start_without_a_secret_key_when_debug_is_off():
    process = manage("runbot", env={"DISCORD_TOKEN": "x", "SECRET_KEY": "", "DEBUG": "false"},
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = process.communicate(timeout=60)
    assert process.returncode != 0
    assert out == ""
    assert err.strip().splitlines() == [f"CommandError: {LINE}"]


@pytest.mark.parametrize("module", ["botproject.asgi", "botproject.wsgi"])
def test_the_web_process_refuses_to_start_without_a_secret_key_when_debug_is_off(module):
    refused = _run(["-c", f"import {module}; print('served')"], {"DEBUG": "false"})
    assert refused.returncode == 1
    assert refused.stdout == ""
    assert refused.stderr.strip().splitlines() == [LINE]
    # With a key, or in development (DEBUG on), the application loads.
    for env in ({"SECRET_KEY": PRODUCTION["SECRET_KEY"]}, {"DEBUG": "true"}):
        served = _run(["-c", f"import {module}; print('served')"], env)
        assert (served.returncode, served.stdout.strip()) == (0, "served"), served.stderr


def test_check_deploy_is_clean_with_https_on_and_a_real_configuration():
    done = _run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], PRODUCTION)
    assert done.returncode == 0, done.stderr
    # Without HTTPS=true the same check warns (so the clean result above is HTTPS's doing).
    plain = _run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], {**PRODUCTION, "HTTPS": "false"})
    assert plain.returncode != 0 and "security.W008" in plain.stderr


def test_https_redirects_the_site_but_not_the_pinger_paths_and_trusts_the_proxy_header(tmp_path):
    code = (
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='botproject.settings'; django.setup();"
        "from django.test.utils import setup_test_environment; setup_test_environment();"
        "from django.conf import settings as s; from django.test import Client; c = Client();"
        "r = c.get('/admin/login/', HTTP_HOST='bot.example.com'); print(r.status_code, r['Location']);"
        "r = c.get('/admin/login/', HTTP_HOST='bot.example.com', HTTP_X_FORWARDED_PROTO='https');"
        "print(r.status_code, r['Strict-Transport-Security'], r.cookies['csrftoken']['secure']);"
        "print(c.get('/', HTTP_HOST='bot.example.com').status_code,"
        " c.get('/status', HTTP_HOST='bot.example.com').status_code,"
        " c.get('/metrics', HTTP_HOST='bot.example.com').status_code);"
        "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_HSTS_SECONDS)"
    )
    done = _run(["-c", code], {**PRODUCTION, "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
                               "METRICS_ENABLED": "true"})
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[0] == "301 https://bot.example.com/admin/login/"
    assert lines[1] == "200 max-age=31536000; includeSubDomains True"
    assert lines[2] == "200 200 200"  # pingers and scrapers over plain HTTP are answered, not redirected
    assert lines[3] == "True True 31536000"


@pytest.mark.django_db(transaction=True)
def test_status_measures_the_database_size_at_most_once_a_minute(client):
    seen: list[str] = []

    def count(execute, sql, params, many, context):
        if "page_count" in sql or "pg_database_size" in sql:
            seen.append(sql)
        return execute(sql, params, many, context)

    def instrument(sender, connection, **kwargs):
        if count not in connection.execute_wrappers:
            connection.execute_wrappers.append(count)

    runtime.database_size_at = None  # never measured in this process
    runtime.database_size = None
    connection_created.connect(instrument)
    try:
        first = client.get("/status").json()["database_size_bytes"]
        measured = len(seen)
        second = client.get("/status").json()["database_size_bytes"]
    finally:
        connection_created.disconnect(instrument)
    assert first > 0 and second == first
    assert measured >= 1
    assert len(seen) == measured, "the second /status must reuse the measured size"


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/", "/health", "/status"])
def test_pinger_paths_refuse_bodies_and_other_methods(client, path):
    assert client.generic("GET", path, data=b"x" * 100, content_type="text/plain").status_code == 413
    assert client.post(path, data=b"{}", content_type="application/json").status_code == 405
    assert client.get(path).status_code == 200


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("full_site", [False, True])
def test_runbots_http_server_refuses_a_body_before_django_reads_it(full_site):
    app = build_app(full_site=full_site)
    read = []

    def call(method, path, headers):
        sent = []

        async def receive():
            read.append(path)
            if len(read) > 1:
                await asyncio.Event().wait()  # the client stays connected until Django is done
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message):
            sent.append(message)

        scope = {"type": "http", "method": method, "path": path, "raw_path": path.encode(), "query_string": b"",
                 "headers": headers, "http_version": "1.1", "scheme": "http", "server": ("127.0.0.1", 80),
                 "client": ("127.0.0.1", 1), "root_path": ""}
        asyncio.run(app(scope, receive, send))
        return sent[0]["status"]

    assert call("GET", "/health", [(b"content-length", b"10"), (b"host", b"localhost")]) == 413
    assert call("GET", "/status", [(b"transfer-encoding", b"chunked"), (b"host", b"localhost")]) == 413
    assert call("POST", "/", [(b"content-length", b"10"), (b"host", b"localhost")]) == 405
    assert read == [], "the body was never read"
    assert call("GET", "/health", [(b"host", b"localhost")]) == 200
    assert read[0] == "/health"
