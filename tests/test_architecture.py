"""The dependency rules of the design card, checked over the import graph of the project's modules.

The graph has one node per module of the apps (migrations left out) and an edge for every import, at module
level or inside a function (both run), except those under `if TYPE_CHECKING:` (never run). An import names the
most specific project module it reaches: `from botproject import outbox` is an edge to botproject.outbox,
`from points.models import Member` one to points.models.
"""

from __future__ import annotations

import ast
import importlib
from functools import cache
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent
CORE = "botproject"
APPS = ("points", "tickets", "pads", "verification")  # the feature apps; the core is CORE
BRIDGE = "botproject.bot.db"  # the one module allowed to call sync_to_async on the bot side


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def _sources() -> dict[str, Path]:
    """Module name -> file, for every module of the core and the apps (migrations left out)."""
    found = {}
    for top in (CORE, *APPS):
        for path in sorted((ROOT / top).rglob("*.py")):
            if "migrations" not in path.relative_to(ROOT).parts:
                found[_module_name(path)] = path
    return found


def _is_type_checking(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"))


def _import_nodes(tree: ast.AST):
    """Every import statement that can run: module level, in functions and classes; not under TYPE_CHECKING."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        for child in ast.iter_child_nodes(node):
            if not _is_type_checking(child):
                stack.append(child)


@cache
def _imports(module: str) -> frozenset[str]:
    """The absolute names `module` imports: `import a.b` gives a.b; `from a import b` gives a.b when that is a
    module of the project (a submodule), else a (b is a name defined in a)."""
    path = _sources()[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names = set()
    for node in _import_nodes(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
            continue
        base = node.module or ""
        if node.level:
            anchor = package.split(".")
            anchor = anchor[: len(anchor) - (node.level - 1)]
            base = ".".join([*anchor, base] if base else anchor)
        for alias in node.names:
            names.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in _sources() else base)
    return frozenset(names)


def _project_target(name: str) -> str | None:
    """The most specific project module an imported name reaches (a.b.c when a module, else a.b, ...)."""
    modules = _sources()
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


@cache
def _graph() -> dict[str, frozenset[str]]:
    """Project module -> the project modules it imports."""
    graph = {}
    for module in _sources():
        targets = {_project_target(name) for name in _imports(module)}
        graph[module] = frozenset(t for t in targets if t is not None and t != module)
    return graph


def _imports_discord(module: str) -> bool:
    return any(name == "discord" or name.startswith("discord.") for name in _imports(module))


def _is_models(module: str) -> bool:
    return "models" in module.split(".")


def _app_of(module: str) -> str:
    return module.split(".")[0]


def _cycles(graph: dict[str, frozenset[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    counter = 0

    def visit(start: str) -> None:
        nonlocal counter
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return found


# --- the graph itself ----------------------------------------------------------------------------------------
def test_the_graph_sees_function_level_and_relative_imports():
    graph = _graph()
    assert "botproject.natural_keys" in graph["botproject.models"]  # module level, relative
    assert "botproject.outbox" in graph["botproject.services"]  # `from . import outbox`
    assert "points.selectors" in graph["points.apps"]  # inside ready()
    assert "botproject.registry" in graph["pads.apps"]  # inside ready(), absolute


def test_there_is_no_import_cycle():
    assert _cycles(_graph()) == []


def test_the_cycle_finder_finds_cycles():
    assert _cycles({"a": frozenset({"b"}), "b": frozenset({"c"}), "c": frozenset({"a"}), "d": frozenset({"a"})}) == [
        ["a", "b", "c"]]


# --- size ----------------------------------------------------------------------------------------------------
MAX_MODULE_LINES = 450  # issue 15: a module past this is doing several jobs; split it by concern


def test_no_app_module_is_over_450_lines():
    """Every module of the core and the apps (migrations left out: Django writes them) fits on a few screens."""
    sizes = {module: len(path.read_text(encoding="utf-8").splitlines()) for module, path in _sources().items()}
    assert {module: lines for module, lines in sizes.items() if lines > MAX_MODULE_LINES} == {}


# --- layers --------------------------------------------------------------------------------------------------
def test_a_module_that_imports_discord_imports_no_models():
    offenders = {module: sorted(t for t in _graph()[module] if _is_models(t))
                 for module in _sources() if _imports_discord(module)}
    assert {m: t for m, t in offenders.items() if t} == {}, "the Discord side goes through services and selectors"


def test_an_app_imports_another_apps_models_only_through_its_services_and_selectors():
    """Apps reach each other through services and selectors; the core's models (botproject.models: Guild,
    snowflake) are shared by design, so every app may import them. The core imports no app's models."""
    offenders = sorted(
        (module, target) for module, targets in _graph().items() for target in targets
        if _is_models(target) and _app_of(target) in APPS and _app_of(target) != _app_of(module))
    assert offenders == []


SANDBOX = f"{CORE}.sandbox"  # runbot --sandbox: a demo harness over every app (like the tests), not core logic
SANDBOX_USERS = {f"{CORE}.management.commands.runbot"}


def _in_sandbox(module: str) -> bool:
    return module == SANDBOX or module.startswith(f"{SANDBOX}.")


def test_the_core_imports_no_app():
    """The core knows no app by name: the apps register what it shows (botproject.registry). The sandbox is left
    out: it seeds its demo server through the apps' services, as a person would through the admin."""
    offenders = sorted((m, t) for m, targets in _graph().items() if _app_of(m) == CORE and not _in_sandbox(m)
                       for t in targets if _app_of(t) in APPS)
    assert offenders == []


def test_only_runbot_imports_the_sandbox():
    """Nothing in the bot, the apps or the rest of the core depends on the sandbox (runbot --sandbox starts it)."""
    offenders = sorted((m, t) for m, targets in _graph().items() if not _in_sandbox(m) and m not in SANDBOX_USERS
                       for t in targets if _in_sandbox(t))
    assert offenders == []
    assert any(_in_sandbox(t) for t in _graph()[f"{CORE}.management.commands.runbot"]), "the check sees the edge"


def test_services_and_selectors_never_import_discord():
    layer = [m for m in _sources() if {"services", "selectors"} & set(m.split("."))]
    assert layer, "no services or selectors found"
    assert [m for m in layer if _imports_discord(m)] == []


def test_bot_plumbing_imports_no_app_and_no_models():
    plumbing = [m for m in _sources() if m.startswith(f"{CORE}.bot.") or m == f"{CORE}.bot"]
    assert plumbing
    offenders = sorted((m, t) for m in plumbing for t in _graph()[m] if _app_of(t) in APPS or _is_models(t))
    assert offenders == []


def test_the_discord_side_never_touches_the_orm():
    surface = [m for m in _sources() if _imports_discord(m)]
    assert surface
    assert [m for m in surface if ".objects." in _sources()[m].read_text(encoding="utf-8")] == []


def test_only_the_bridge_calls_sync_to_async_on_the_discord_side():
    surface = [m for m in _sources() if _imports_discord(m) and m != BRIDGE]
    assert [m for m in surface if "sync_to_async" in _sources()[m].read_text(encoding="utf-8")] == []


# --- the Discord extensions load ----------------------------------------------------------------------------
@pytest.mark.parametrize("name", settings.DISCORD_EXTENSIONS)
def test_every_extension_imports_and_has_setup(name):
    module = importlib.import_module(name)
    assert callable(module.setup)


def test_every_app_cogs_module_is_a_loadable_extension():
    for app in APPS:
        assert callable(importlib.import_module(f"{app}.cogs").setup)
