"""The URLs of a `runbot --sandbox` process: the project's own, plus the sandbox page."""

from django.urls import include, path

from botproject.urls import urlpatterns as project_urlpatterns

urlpatterns = [path("sandbox/", include("botproject.sandbox.urls")), *project_urlpatterns]
