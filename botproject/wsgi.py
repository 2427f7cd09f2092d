"""WSGI entry point for a split deployment (web process separate from runbot)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "botproject.settings")
application = get_wsgi_application()

from botproject.security import exit_without_secret_key  # noqa: E402 - needs the settings loaded above

exit_without_secret_key()
