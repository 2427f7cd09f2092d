"""The sandbox page and its JSON API (only served while runbot --sandbox runs)."""

from django.urls import path

from . import views

app_name = "sandbox"
urlpatterns = [
    path("", views.page, name="page"),
    path("assets/<str:name>", views.asset, name="asset"),
    path("api/state", views.state, name="state"),
    path("api/act", views.act, name="act"),
]
