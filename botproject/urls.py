"""URLs: the admin, the health endpoints and /metrics."""

from django.contrib import admin
from django.urls import path

from . import views

urlpatterns = [
    path("", views.index, name="index"),
    path("health", views.health, name="health"),
    path("status", views.status, name="status"),
    path("metrics", views.metrics, name="metrics"),
    path("admin/", admin.site.urls),
]
