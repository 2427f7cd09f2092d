"""Containers (issue 17.3), checked without a Docker daemon: the Dockerfile (read by a small parser of its instruction
lines), compose.yaml (PyYAML), .dockerignore, .env.example, the entrypoint and healthcheck scripts (run for real), and
the README's "Containers" section, which must name what these files do."""

from __future__ import annotations

import http.server
import importlib
import json
import os
import re
import shlex
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
COMPOSE = ROOT / "compose.yaml"
ENTRYPOINT = ROOT / "docker" / "entrypoint.sh"
HEALTHCHECK = ROOT / "docker" / "healthcheck.py"
CMD = ["python", "manage.py", "runbot", "--web"]


# --- A Dockerfile parser: instruction lines, continuations, comments, JSON (exec) form -----------------------------

@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case: FROM, RUN, ...
    args: str  # the rest, continuation lines joined with a space
    line: int  # where it starts

    def exec_form(self) -> list[str] | None:
        """The JSON array of CMD/ENTRYPOINT/RUN/HEALTHCHECK CMD when written that way, else None (shell form)."""
        return _exec_form(self.args)


def _exec_form(args: str) -> list[str] | None:
    if not args.startswith("["):
        return None
    value = json.loads(args)  # a malformed array is an error here (Docker would silently run it as shell form)
    assert isinstance(value, list) and all(isinstance(item, str) for item in value), args
    return value


def parse_dockerfile(text: str) -> list[Instruction]:
    escape = "\\"
    instructions: list[Instruction] = []
    parts: list[str] | None = None
    start = 0
    at_top = True  # parser directives (# escape=`) come before anything else
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if parts is None:
            if stripped.startswith("#"):
                directive = re.fullmatch(r"#\s*escape\s*=\s*(\S)\s*", stripped)
                if at_top and directive:
                    escape = directive[1]
                elif not re.fullmatch(r"#\s*\w+\s*=.*", stripped):
                    at_top = False
                continue
            at_top = False
            if not stripped:
                continue
            parts, start = [], number
        elif not stripped or stripped.startswith("#"):
            continue  # comment and empty lines inside a continuation are dropped, as Docker does
        if stripped.endswith(escape):
            parts.append(stripped[:-1].strip())
            continue
        parts.append(stripped)
        keyword, _, args = " ".join(part for part in parts if part).partition(" ")
        instructions.append(Instruction(keyword.upper(), args.strip(), start))
        parts = None
    assert parts is None, "the Dockerfile ends inside a continuation line"
    return instructions


def split_flags(args: str) -> tuple[dict[str, str], str]:
    """`--interval=30s --chown=a:b rest` -> ({"interval": "30s", "chown": "a:b"}, "rest")."""
    flags = {}
    while match := re.match(r"--([\w-]+)(?:=(\S*))?\s*", args):
        flags[match[1]] = match[2] or ""
        args = args[match.end():]
    return flags, args


def test_the_parser_reads_continuations_comments_flags_and_exec_form():
    text = ("# a comment\nFROM python:3.11-slim AS base\n\nRUN a \\\n    # dropped\n    && b \\\n\n    && c\n"
            'HEALTHCHECK --interval=5s --retries=2 \\\n  CMD ["python", "x.py"]\ncmd ["a", "b c"]\nUSER bot\n')
    parsed = parse_dockerfile(text)
    assert [(i.keyword, i.line) for i in parsed] == [("FROM", 2), ("RUN", 4), ("HEALTHCHECK", 9), ("CMD", 11),
                                                      ("USER", 12)]
    assert parsed[1].args == "a && b && c"
    flags, rest = split_flags(parsed[2].args)
    assert flags == {"interval": "5s", "retries": "2"} and rest == 'CMD ["python", "x.py"]'
    assert _exec_form(rest.removeprefix("CMD").strip()) == ["python", "x.py"]
    assert parsed[3].exec_form() == ["a", "b c"] and parsed[4].exec_form() is None
    assert parse_dockerfile("# escape=`\nRUN a `\n  b\n")[0].args == "a b"
    with pytest.raises(AssertionError, match="continuation"):
        parse_dockerfile("RUN a \\\n")


@pytest.fixture(scope="module")
def dockerfile() -> list[Instruction]:
    instructions = parse_dockerfile(DOCKERFILE.read_text(encoding="utf-8"))
    for instruction in instructions:  # the parser reads no heredocs: keep the Dockerfile to plain lines
        assert not re.search(r"<<-?\s*['\"]?[A-Za-z_]", instruction.args), instruction
    return instructions


def only(instructions: list[Instruction], keyword: str) -> Instruction:
    found = [i for i in instructions if i.keyword == keyword]
    assert len(found) == 1, f"one {keyword} expected, found {found}"
    return found[0]


def index_of(instructions: list[Instruction], predicate) -> int:
    return next(n for n, instruction in enumerate(instructions) if predicate(instruction))


def test_dockerfile_builds_from_slim_python_and_runs_the_bot_as_a_non_root_user(dockerfile):
    assert only(dockerfile, "FROM").args.split()[0] == "python:3.11-slim"
    cmd = only(dockerfile, "CMD")
    assert cmd.exec_form() == CMD
    users = [i for i in dockerfile if i.keyword == "USER" and i.line < cmd.line]
    assert users, "no USER before CMD: the bot would run as root"
    user = users[-1].args.split(":")[0]
    assert user not in ("root", "0", "")
    assert any(i.keyword == "RUN" and re.search(rf"\buseradd\b.*\s{user}$|\buseradd\b.*\s{user}\s", i.args)
               for i in dockerfile), f"no RUN creates the user {user}"


def test_dockerfile_installs_the_requirements_in_their_own_cached_layer(dockerfile):
    copy_requirements = index_of(dockerfile, lambda i: i.keyword == "COPY" and "requirements.txt" in i.args.split())
    install = index_of(dockerfile, lambda i: i.keyword == "RUN" and "pip install" in i.args
                       and "-r requirements.txt" in i.args)
    copy_all = index_of(dockerfile, lambda i: i.keyword == "COPY" and split_flags(i.args)[1].split()[0] == ".")
    assert copy_requirements < install < copy_all
    before = [i for i in dockerfile[:install] if i.keyword in ("COPY", "ADD")]
    assert before == [dockerfile[copy_requirements]], "only requirements.txt may be copied before pip install"


def test_dockerfile_collects_static_files_at_build_without_baking_a_secret(dockerfile):
    collect = [i for i in dockerfile if i.keyword == "RUN" and "manage.py collectstatic --noinput" in i.args]
    assert len(collect) == 1
    # Whatever the build needs goes on that RUN line only; no ARG or ENV carries a secret into the image.
    for instruction in dockerfile:
        if instruction.keyword in ("ARG", "ENV"):
            assert not re.search(r"SECRET|TOKEN|PASSWORD", instruction.args, re.IGNORECASE), instruction


def test_dockerfile_exposes_the_settings_default_port_and_checks_health(dockerfile):
    settings_module = importlib.import_module("botproject.settings")
    default_port = settings_module.env.scheme["PORT"][1]  # the default, whatever PORT this run has
    assert only(dockerfile, "EXPOSE").args.split() == [str(default_port)]
    flags, rest = split_flags(only(dockerfile, "HEALTHCHECK").args)
    assert set(flags) <= {"interval", "timeout", "start-period", "start-interval", "retries"}
    assert rest.startswith("CMD ")
    command = _exec_form(rest.removeprefix("CMD").strip())
    assert command is not None and command[0] == "python"
    # Either inline (python -c ...) or a script from the repository; it calls /health with urllib (no curl in slim).
    script = command[1:] if command[1] == "-c" else [HEALTHCHECK.read_text(encoding="utf-8")]
    if command[1] != "-c":
        assert command[1] == f"/app/{HEALTHCHECK.relative_to(ROOT).as_posix()}"
        assert only(dockerfile, "WORKDIR").args == "/app"
    assert "/health" in " ".join(script) and "urllib.request" in " ".join(script)
    assert f'"{default_port}"' in script[0]  # the port it calls when PORT is not set


def test_dockerfile_migrates_at_start_and_keeps_data_in_a_volume_the_user_owns(dockerfile):
    entrypoint = only(dockerfile, "ENTRYPOINT").exec_form()
    assert entrypoint == [f"/app/{ENTRYPOINT.relative_to(ROOT).as_posix()}"]
    volumes = _exec_form(only(dockerfile, "VOLUME").args) or only(dockerfile, "VOLUME").args.split()
    env = " ".join(i.args for i in dockerfile if i.keyword == "ENV")
    backup_dir = re.search(r"\bBACKUP_DIR=(\S+)", env)[1]
    volume = next(v for v in volumes if backup_dir.startswith(v.rstrip("/") + "/"))
    user = [i for i in dockerfile if i.keyword == "USER"][-1].args.split(":")[0]
    assert any(i.keyword == "RUN" and f"mkdir -p {backup_dir}" in i.args and f"chown -R {user}:" in i.args
               and i.args.rstrip().endswith(volume) for i in dockerfile)


# --- .dockerignore and the COPY sources ---------------------------------------------------------------------------

def _dockerignore_patterns() -> list[tuple[bool, re.Pattern]]:
    patterns = []
    for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        pattern = line.lstrip("!").strip().strip("/")
        regex = ""
        for token in re.split(r"(\*\*/|\*\*|\*|\?|\[[^\]]*\])", pattern):
            if token.startswith("[") and token.endswith("]"):
                regex += token.replace("[!", "[^", 1) if len(token) > 2 else re.escape(token)
            else:
                regex += {"**/": "(?:.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}.get(token, re.escape(token))
        patterns.append((negated, re.compile(regex)))
    return patterns


def ignored(path: str) -> bool:
    """Whether Docker leaves `path` (relative, with /) out of the build context: the last matching line wins, and a
    line that matches a directory matches all under it."""
    parts = path.split("/")
    prefixes = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    result = False
    for negated, regex in _dockerignore_patterns():
        if any(regex.fullmatch(prefix) for prefix in prefixes):
            result = not negated
    return result


def test_dockerignore_keeps_secrets_databases_and_caches_out_of_the_build():
    for path in (".git/HEAD", ".env", ".env.production", "db.sqlite3", "db.sqlite3-wal", "data/x.sqlite3",
                 "backups/2026-01-01.dump", "staticfiles/admin/x.css", "points/__pycache__/models.cpython-311.pyc",
                 "points/stale.pyc", ".venv/bin/python", "venv/bin/python", "node_modules/x/index.js",
                 "tests/ui/node_modules/a.js", ".cache/ms-playwright/chromium/x", "ms-playwright/x",
                 ".pytest_cache/v", ".ruff_cache/x"):
        assert ignored(path), path
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    needed = [p for p in tracked if p.split("/")[0] in ("botproject", "points", "tickets", "pads", "verification",
                                                        "templates", "docker", "manage.py", "requirements.txt")]
    assert "manage.py" in needed and "requirements.txt" in needed
    assert [p for p in needed if ignored(p)] == []


def test_every_copy_source_exists_and_is_in_the_build_context(dockerfile):
    copies = [i for i in dockerfile if i.keyword in ("COPY", "ADD")]
    assert copies and all(i.keyword == "COPY" for i in copies), "COPY, not ADD (no URLs or archives)"
    for instruction in copies:
        flags, rest = split_flags(instruction.args)
        assert "from" not in flags
        *sources, _destination = _exec_form(rest) or shlex.split(rest)
        for source in sources:
            matches = [source] if source == "." else [p.relative_to(ROOT).as_posix() for p in ROOT.glob(source)]
            assert matches and all((ROOT / m).exists() and not ignored(m) for m in matches if m != "."), source


# --- The entrypoint and the healthcheck, run for real --------------------------------------------------------------

def test_entrypoint_is_executable_in_git_with_lf_line_endings_and_runs_the_command_after_migrating(tmp_path):
    staged = subprocess.run(["git", "ls-files", "-s", "--", ENTRYPOINT.relative_to(ROOT).as_posix()], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout
    assert staged.split()[:1] == ["100755"], f"not executable in git: {staged!r}"
    data = ENTRYPOINT.read_bytes()
    assert b"\r" not in data and data.startswith(b"#!/bin/sh\n")
    assert b"migrate --noinput" in data and b'exec "$@"' in data
    database = tmp_path / "entry.sqlite3"
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{database}", "MIGRATE_ON_START": "true"}
    command = [sys.executable, "-c", "import sys; print('command:', sys.argv[1:]); sys.exit(3)", "a b", "c"]
    done = subprocess.run([str(ENTRYPOINT), *command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 3, done.stderr  # the command's own exit status: it replaced the shell
    assert "Applying botproject.0001_initial... OK" in done.stdout
    assert done.stdout.rstrip().endswith("command: ['a b', 'c']")
    tables = subprocess.run([sys.executable, "-c", f"import sqlite3; print(sqlite3.connect({str(database)!r})"
                             ".execute(\"select count(*) from django_migrations\").fetchone()[0])"],
                            capture_output=True, text=True, check=True).stdout
    assert int(tables) > 10
    skipped = subprocess.run([str(ENTRYPOINT), sys.executable, "-c", "print('only the command')"], cwd=ROOT,
                             env={**env, "MIGRATE_ON_START": "false"}, capture_output=True, text=True, timeout=60)
    assert skipped.returncode == 0 and skipped.stdout == "only the command\n"


def run_healthcheck(port: int, **env: str) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if k != "ALLOWED_HOSTS"} | {"PORT": str(port)} | env
    return subprocess.run([sys.executable, str(HEALTHCHECK)], env=full_env, capture_output=True, text=True, timeout=30)


@pytest.fixture
def health_server():
    """A real HTTP server on 127.0.0.1 that answers /health with the status the test sets and records Host headers."""
    state = {"status": 200, "hosts": [], "paths": []}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            state["hosts"].append(self.headers["Host"])
            state["paths"].append(self.path)
            self.send_response(state["status"])
            if state["status"] in (301, 302):
                self.send_header("Location", "https://bot.example.com/health")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], state
    server.shutdown()
    server.server_close()
    thread.join()


def test_healthcheck_is_healthy_only_on_a_200_from_health(health_server):
    port, state = health_server
    assert run_healthcheck(port).returncode == 0
    assert state["paths"] == ["/health"] and state["hosts"] == ["localhost"]
    for status in (503, 500, 400, 302):
        state["status"] = status
        done = run_healthcheck(port)
        assert done.returncode == 1 and str(status) in done.stderr
    assert state["paths"] == ["/health"] * 5  # the redirect was not followed
    state["status"] = 200
    for allowed, host in ((".example.com,localhost", "example.com"), ("*", "localhost"), (" bot.example.com ",
                                                                                          "bot.example.com")):
        assert run_healthcheck(port, ALLOWED_HOSTS=allowed).returncode == 0
        assert state["hosts"][-1] == host


def test_healthcheck_is_unhealthy_when_nothing_listens():
    with socket.socket() as sock:  # a port bound but not listening refuses connections
        sock.bind(("127.0.0.1", 0))
        done = run_healthcheck(sock.getsockname()[1])
    assert done.returncode == 1 and "unhealthy" in done.stderr


def test_healthcheck_against_the_running_bot(running_bot, transactional_db, settings):
    """The real /health of a bot started as runbot starts it; Django checks the Host the script sends."""
    port = running_bot.runner.web.port
    settings.ALLOWED_HOSTS = ["bot.example.com"]
    done = run_healthcheck(port, ALLOWED_HOSTS="bot.example.com,localhost")
    assert done.returncode == 0, done.stderr
    refused = run_healthcheck(port, ALLOWED_HOSTS="")  # "localhost" is not allowed here: Django answers 400
    assert refused.returncode == 1 and "400" in refused.stderr


# --- compose.yaml and .env.example ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def _environment(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


def _env_files(service: dict) -> list[str]:
    files = service.get("env_file") or []
    files = [files] if isinstance(files, str | dict) else files
    return [item if isinstance(item, str) else item["path"] for item in files]


def _named_volume_mounts(service: dict) -> dict[str, str]:
    """Named volume -> target in the container (short `name:/path[:mode]` or long syntax)."""
    mounts = {}
    for volume in service.get("volumes") or []:
        if isinstance(volume, str):
            source, _, rest = volume.partition(":")
            target = rest.split(":")[0]
        else:
            source, target = volume.get("source", ""), volume["target"]
        if source and not source.startswith((".", "/", "~")):
            mounts[source] = target
    return mounts


def test_compose_runs_the_bot_with_postgresql_and_redis(compose):
    services = compose["services"]
    assert set(services) == {"bot", "postgres", "redis"}
    bot = services["bot"]
    assert bot["build"] in (".", {"context": "."})
    assert re.fullmatch(r"postgres:1[67](\.\d+)?(-\w+)?", services["postgres"]["image"])
    assert services["redis"]["image"].startswith("redis:")
    for name, service in services.items():
        assert service.get("restart") in ("always", "unless-stopped"), name
    assert bot["depends_on"] == {"postgres": {"condition": "service_healthy"},
                                 "redis": {"condition": "service_healthy"}}
    assert ".env" in _env_files(bot)
    env = _environment(bot)
    assert re.fullmatch(r"postgres(ql)?://[^@]+@postgres:5432/\S+", env["DATABASE_URL"])
    assert re.fullmatch(r"redis://redis:6379(/\d+)?", env["REDIS_URL"])
    # The database URL is built from the same variables the postgres service is created with.
    pg_env = _environment(services["postgres"])
    for variable in ("POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"):
        assert pg_env[variable] in env["DATABASE_URL"], variable
    assert _env_files(services["postgres"]) == [], "the database need not see the bot's token and secrets"


def test_compose_healthchecks(compose):
    services = compose["services"]
    postgres = services["postgres"]["healthcheck"]["test"]
    assert postgres[0] == "CMD-SHELL" and "pg_isready" in postgres[1]
    # $$ is compose's escape for a literal $: the variables are read inside the container, where they are set.
    assert "$${POSTGRES_USER}" in postgres[1] and "$${POSTGRES_DB}" in postgres[1]
    assert services["redis"]["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    assert "healthcheck" not in services["bot"], "the bot uses the image's HEALTHCHECK on /health"


def test_compose_keeps_data_in_named_volumes(compose, dockerfile):
    services = compose["services"]
    named = set(compose["volumes"])
    mounts = {name: _named_volume_mounts(service) for name, service in services.items()}
    assert "/var/lib/postgresql/data" in mounts["postgres"].values()
    assert "/data" in mounts["redis"].values() and "--appendonly" in services["redis"]["command"]
    backup_dir = _environment(services["bot"])["BACKUP_DIR"]
    assert any(backup_dir == target or backup_dir.startswith(target.rstrip("/") + "/")
               for target in mounts["bot"].values()), "the bot's backups are not in a volume"
    used = {volume for service in mounts.values() for volume in service}
    assert used == named and len(named) == 3
    volume = _exec_form(only(dockerfile, "VOLUME").args)
    assert set(mounts["bot"].values()) <= set(volume), "the bot's volume is mounted where the image declares it"


def _interpolated(text: str) -> dict[str, bool]:
    """Variables compose substitutes -> whether it requires them (${VAR:?err}/${VAR?err}); $$ is a literal $."""
    text = text.replace("$$", "")
    found: dict[str, bool] = {}
    for match in re.finditer(r"\$\{([A-Za-z_]\w*)(:?[-?+])?[^}]*\}|\$([A-Za-z_]\w*)", text):
        name = match[1] or match[3]
        found[name] = found.get(name, False) or bool(match[2] and match[2].endswith("?"))
    return found


def _env_example() -> dict[str, bool]:
    """Variables .env.example names -> whether the line is active (not commented out)."""
    names = {}
    for line in (ROOT / ".env.example").read_text(encoding="utf-8").splitlines():
        if match := re.fullmatch(r"(#\s*)?([A-Z][A-Z0-9_]*)=.*", line.strip()):
            names[match[2]] = names.get(match[2], False) or not match[1]
    return names


def test_every_variable_compose_reads_is_in_env_example():
    assert _interpolated("a ${A} $B ${C:-x} ${D:?set D} $${E} $$F ${G-y}") == {
        "A": False, "B": False, "C": False, "D": True, "G": False}
    used = _interpolated(COMPOSE.read_text(encoding="utf-8"))
    assert {"POSTGRES_PASSWORD", "PORT"} <= set(used)
    example = _env_example()
    assert sorted(set(used) - set(example)) == []
    # A variable compose cannot do without is an active line to fill in, not a commented-out one.
    assert sorted(name for name, required in used.items() if required and not example[name]) == []
    assert example["DISCORD_TOKEN"]


def test_env_example_keeps_the_settings_it_documents():
    text = (ROOT / "botproject" / "settings.py").read_text(encoding="utf-8")
    container_only = {"POSTGRES_PASSWORD", "POSTGRES_USER", "POSTGRES_DB", "BIND_ADDRESS", "MIGRATE_ON_START"}
    for name in set(_env_example()) - container_only:
        assert re.search(rf'\b{name}\b', text), f"{name} in .env.example is not a setting"


# --- README: the "Containers" section names the files and the commands that work with them ---------------------------

def _readme_section(title_word: str, text: str | None = None) -> str:
    lines = (text if text is not None else (ROOT / "README.md").read_text(encoding="utf-8")).splitlines()
    start = next((n for n, line in enumerate(lines) if re.match(rf"(##|###) .*\b{title_word}\b", line)), None)
    assert start is not None, f"README.md has no '## ...{title_word}...' or '### ...{title_word}...' heading"
    level = len(lines[start].split()[0])
    end = next((n for n in range(start + 1, len(lines))
                if re.match(rf"#{{1,{level}}} ", lines[n])), len(lines))
    return "\n".join(lines[start:end])


README_STRINGS = (
    "Dockerfile", "compose.yaml", ".env.example", "/health", "python manage.py runbot --web", "postgres:17",
    "cp .env.example .env", "docker compose up -d --build", "docker compose exec bot python manage.py createsuperuser",
    "docker compose logs -f bot", "docker build -t communitybot .", "MIGRATE_ON_START=false",
)


def _readme_commands(section: str) -> list[list[str]]:
    """The shell commands the section shows: lines of its code blocks (comments cut) and `inline` spans."""
    commands, in_code = [], False
    for line in section.splitlines():
        if line.startswith("```"):
            in_code = not in_code
            continue
        pieces = [line.split(" #")[0]] if in_code else re.findall(r"`([^`]+)`", line)
        for piece in pieces:
            for command in piece.split("&&"):
                if command.strip().startswith("docker"):
                    commands.append(shlex.split(command))
    return commands


def test_readme_containers_section_names_the_files_and_commands(compose, dockerfile):
    check_readme_section(_readme_section("Containers"), compose, dockerfile)


def check_readme_section(section: str, compose: dict, dockerfile: list[Instruction]) -> None:
    missing = [text for text in README_STRINGS if text not in section]
    assert missing == []
    for volume in compose["volumes"]:
        assert f"`{volume}`" in section, volume
    backup_dir = re.search(r"\bBACKUP_DIR=(\S+)", " ".join(i.args for i in dockerfile if i.keyword == "ENV"))[1]
    assert backup_dir in section
    # Every `docker compose <command> ... <service>` names a service of compose.yaml; `docker run` runs the image
    # `docker build -t` tags, with a volume where the image declares it and the port it exposes.
    services, commands = set(compose["services"]), _readme_commands(section)
    takes_value = {"-e", "--env", "-u", "--user", "-w", "--workdir", "--index", "-n", "--tail"}
    compose_commands = [c[2:] for c in commands if c[:2] == ["docker", "compose"]]
    assert compose_commands
    for subcommand, *rest in compose_commands:
        positional, skip = [], False
        for token in rest:
            if skip or token.startswith("-"):
                skip = not skip and token in takes_value
                continue
            positional.append(token)
        named = {"exec": positional[:1], "run": positional[:1], "cp": [p.split(":")[0] for p in positional
                                                                       if ":" in p]}.get(subcommand, positional)
        assert set(named) <= services, (subcommand, rest)
    tag = next(c[c.index("-t") + 1] for c in commands if c[:2] == ["docker", "build"])
    run = next(c for c in commands if c[:2] == ["docker", "run"])
    assert run[-1] == tag
    assert run[run.index("-v") + 1].split(":")[1] in _exec_form(only(dockerfile, "VOLUME").args)
    assert run[run.index("-p") + 1].split(":")[-1] == only(dockerfile, "EXPOSE").args
