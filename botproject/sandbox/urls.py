"""The sandbox page and its JSON API (only served while runbot --sandbox runs)."""

from django.urls import path

from . import views

app_name = "sandbox"
urlpatterns = [
    path("", views.page, name="page"),
]
