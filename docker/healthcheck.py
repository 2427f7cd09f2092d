"""The image's HEALTHCHECK: exit 0 when GET /health on $PORT answers 200, else 1 (python:3.11-slim has no curl).

/health answers 200 when the database does, 503 when it does not. Django checks the Host header against ALLOWED_HOSTS
before any view runs, so the request names the first allowed host (".example.com" as "example.com"; "*" or none set:
localhost). A redirect (HTTPS=true exempts /health, so one means a misconfiguration) counts as unhealthy.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request

TIMEOUT_SECONDS = 4.0  # /health gives the database 3 s; the HEALTHCHECK's own --timeout is 5 s


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # urllib then raises HTTPError for the 3xx


def host_header() -> str:
    for name in os.environ.get("ALLOWED_HOSTS", "").split(","):
        name = name.strip().lstrip(".")
        if name and name != "*":
            return name
    return "localhost"


def main() -> int:
    port = os.environ.get("PORT", "").strip() or "8000"
    request = urllib.request.Request(f"http://127.0.0.1:{port}/health", headers={"Host": host_header()})
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=TIMEOUT_SECONDS) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except (OSError, ValueError) as exc:  # refused, reset, timed out, a bad PORT
        print(f"unhealthy: {exc}", file=sys.stderr)
        return 1
    if status != 200:
        print(f"unhealthy: /health answered {status}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
