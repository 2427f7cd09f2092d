"""Settings come from the environment: SQLite by default, PostgreSQL with a pool from DATABASE_URL."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _settings_in_subprocess(env: dict[str, str], expression: str) -> str:
    code = f"import django, os; os.environ['DJANGO_SETTINGS_MODULE']='botproject.settings'; django.setup(); " \
           f"from django.conf import settings as s; print({expression})"
    clean = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "EMAIL_URL", "PORT"}}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**clean, **env}, capture_output=True, text=True,
                         check=True)
    return out.stdout.strip()


def test_sqlite_default_uses_wal_immediate_and_a_timeout():
    out = _settings_in_subprocess({}, "s.DATABASES['default']['ENGINE'], s.DATABASES['default']['OPTIONS']")
    assert "sqlite3" in out
    assert "'transaction_mode': 'IMMEDIATE'" in out
    assert "journal_mode=WAL" in out
    assert "'timeout': 20.0" in out


def test_database_url_selects_postgresql_with_the_native_pool():
    out = _settings_in_subprocess(
        {"DATABASE_URL": "postgres://u@db.example:5432/app"},
        "s.DATABASES['default']['ENGINE'], s.DATABASES['default']['OPTIONS']['pool'],"
        " s.DATABASES['default']['CONN_MAX_AGE']",
    )
    assert "postgresql" in out and "'max_size': 20" in out and out.endswith("0")


def test_channel_layer_is_in_memory_unless_redis_url_is_set():
    assert "InMemoryChannelLayer" in _settings_in_subprocess({}, "s.CHANNEL_LAYERS['default']['BACKEND']")
    out = _settings_in_subprocess({"REDIS_URL": "redis://127.0.0.1:6379/0"}, "s.CHANNEL_LAYERS['default']")
    assert "RedisChannelLayer" in out and "redis://127.0.0.1:6379/0" in out


def test_email_url_selects_the_backend():
    assert "console" in _settings_in_subprocess({}, "s.EMAIL_BACKEND")
    out = _settings_in_subprocess({"EMAIL_URL": "smtp://user:pw@mail.example:2525"},
                                  "s.EMAIL_BACKEND, s.EMAIL_HOST, s.EMAIL_PORT")
    assert "smtp" in out and "mail.example" in out and "2525" in out


def test_log_file_adds_a_rotating_handler(tmp_path):
    out = _settings_in_subprocess({"LOG_FILE": str(tmp_path / "bot.log")}, "s.LOGGING['handlers']['file']['class']")
    assert out == "logging.handlers.RotatingFileHandler"


def test_discord_knobs_come_from_the_environment():
    out = _settings_in_subprocess(
        {"DISCORD_API_BASE_URL": "http://proxy:8080/api/v10", "DISCORD_GATEWAY_URL": "ws://gw:7878",
         "DISCORD_SYNC_GUILDS": "1,2", "ROBLOX_USERS_API_URL": "http://roblox.test", "LANGUAGE_CODE": "vi"},
        "s.DISCORD_API_BASE_URL, s.DISCORD_GATEWAY_URL, s.DISCORD_SYNC_GUILDS, s.ROBLOX_USERS_API_URL, s.LANGUAGE_CODE",
    )
    assert out == "http://proxy:8080/api/v10 ws://gw:7878 [1, 2] http://roblox.test vi"


def test_collectstatic_on_a_fresh_checkout_turns_on_the_hashed_static_files(tmp_path):
    """The first `collectstatic` of a deployment writes the manifest (it runs with the manifest storage itself), and
    the settings then serve the hashed, compressed copies; before it, the apps' files through the finders."""
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout.split(b"\0")
    for name in filter(None, (f.decode() for f in files)):
        if (ROOT / name).is_file():
            (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / name).write_bytes((ROOT / name).read_bytes())
    clean = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "EMAIL_URL", "PORT"}}
    env = {**clean, "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"}

    def storage() -> str:
        code = ("import django, os; os.environ['DJANGO_SETTINGS_MODULE']='botproject.settings'; django.setup(); "
                "from django.conf import settings as s; from django.templatetags.static import static; "
                "print(s.STORAGES['staticfiles']['BACKEND'], static('admin/css/base.css'))")
        return subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                              check=True).stdout.strip()

    assert storage() == "django.contrib.staticfiles.storage.StaticFilesStorage /static/admin/css/base.css"
    subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=tmp_path, env=env,
                   check=True)
    backend, url = storage().split()
    assert backend == "whitenoise.storage.CompressedManifestStaticFilesStorage"
    assert url.startswith("/static/admin/css/base.") and url != "/static/admin/css/base.css"  # hashed
    assert (tmp_path / "staticfiles" / "admin" / "css" / f"{Path(url).name}.gz").exists()  # compressed
