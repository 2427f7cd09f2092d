"""The dependency rules of the design card, checked over the source tree."""

import ast
import importlib
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent
APPS = ["botproject", "points", "tickets", "pads", "verification"]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(("." * node.level) + node.module)
    return names


def _files(pattern: str) -> list[Path]:
    return sorted(p for app in APPS for p in (ROOT / app).rglob(pattern) if "migrations" not in p.parts)


def test_layout_is_as_designed():
    for name in ["manage.py", "botproject", "points", "tickets", "pads", "verification", "templates", "tests",
                 "requirements.txt", "README.md"]:
        assert (ROOT / name).exists(), name
    for app in APPS[1:]:
        for module in ["apps.py", "models.py", "admin.py", "services.py", "cogs.py"]:
            package = ROOT / app / module.removesuffix(".py") / "__init__.py"  # split past ~400 lines
            assert (ROOT / app / module).is_file() or package.is_file(), f"{app}/{module}"


@pytest.mark.parametrize("path", _files("services.py") + _files("services/*.py") + _files("selectors.py"), ids=str)
def test_services_and_selectors_never_import_discord(path):
    assert not any(name == "discord" or name.startswith("discord.") for name in _imports(path))


@pytest.mark.parametrize("path", _files("cogs.py") + _files("ui.py") + _files("cogs/*.py"), ids=str)
def test_discord_surface_never_touches_the_orm(path):
    assert ".objects." not in path.read_text(encoding="utf-8")
    assert not any(name.endswith("models") for name in _imports(path)), "cogs/ui go through services and selectors"


def test_bot_plumbing_imports_no_app_models():
    for path in (ROOT / "botproject" / "bot").rglob("*.py"):
        for name in _imports(path):
            assert not name.endswith("models"), f"{path} imports {name}"
            assert name.split(".")[0] not in APPS[1:], f"{path} imports {name}"


def test_only_the_bridge_calls_sync_to_async_in_bot_code():
    bot_side = _files("cogs.py") + _files("cogs/*.py") + _files("ui.py") + sorted((ROOT / "botproject" / "bot").glob("*.py"))
    offenders = [p for p in bot_side if "sync_to_async" in p.read_text(encoding="utf-8") and p.name != "db.py"]
    assert offenders == []


@pytest.mark.parametrize("name", settings.DISCORD_EXTENSIONS)
def test_every_extension_imports_and_has_setup(name):
    module = importlib.import_module(name)
    assert callable(module.setup)


def test_every_app_cogs_module_is_a_loadable_extension():
    for app in APPS[1:]:
        assert callable(importlib.import_module(f"{app}.cogs").setup)
