"""ASGI entry point: the Django site (admin, health) for uvicorn or `runbot --web`."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "botproject.settings")
application = get_asgi_application()

from botproject.security import exit_without_secret_key  # noqa: E402 - needs the settings loaded above

exit_without_secret_key()
