"""The HTTP endpoints: /, /health and /status answer JSON; /health says 503 when the database is down."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.django_db
def test_index_is_a_one_line_json_status(client):
    response = client.get("/")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "service": "community-bot"}


@pytest.mark.django_db
def test_health_is_ok_when_the_database_answers(client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_status_reports_the_database_size_and_no_bot_in_this_process(client):
    data = client.get("/status").json()
    assert data["database_size_bytes"] > 0
    assert data["bot_in_this_process"] is False
    assert data["gateway"] == {"connected": False, "latency_ms": None}
    assert set(data) >= {"uptime_seconds", "guilds", "shards", "commands_processed", "errors", "error_rate"}


def test_health_is_503_when_the_database_is_down():
    # A real unreachable PostgreSQL server (nothing listens on port 1), in a separate process.
    code = (
        "import django, os, sys, time; os.environ['DJANGO_SETTINGS_MODULE']='botproject.settings'; django.setup();"
        "from django.test import Client; t = time.monotonic(); r = Client().get('/health', HTTP_HOST='localhost');"
        "print(r.status_code, round(time.monotonic() - t, 1), r.content.decode()); sys.stdout.flush(); os._exit(0)"
    )
    env = {**os.environ, "DATABASE_URL": "postgres://postgres@127.0.0.1:1/none"}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                         check=True, timeout=60)
    status, seconds, body = out.stdout.strip().split(" ", 2)
    assert status == "503"
    assert float(seconds) < 5, "a load balancer must hear 503 before it gives up"
    assert json.loads(body)["status"] == "unavailable"


@pytest.mark.django_db
def test_admin_login_page_is_served_with_static_files(client):
    page = client.get("/admin/login/")
    assert page.status_code == 200
    assert b"Community bot" in page.content
