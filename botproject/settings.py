"""Django settings: every knob comes from the environment (see README "Configuration")."""

import os
import sys
import tempfile
import warnings
from pathlib import Path

import environ
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env(
    DEBUG=(bool, False),
    ALLOWED_HOSTS=(list, ["localhost", "127.0.0.1", "[::1]"]),
    CSRF_TRUSTED_ORIGINS=(list, []),
    DISCORD_SYNC_GUILDS=(list, []),
    PORT=(int, 8000),
    DB_THREADS=(int, 0),
    DB_POOL_MAX=(int, 20),
    SQLITE_TIMEOUT=(float, 20.0),
)
# A .env file beside manage.py is read when present; real environment variables win.
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# Without SECRET_KEY a development key is used; with DEBUG off, `runbot` and the ASGI/WSGI web process
# refuse to start on it (botproject/security.py). Other management commands (migrate, check, tests) may.
SECRET_KEY_IS_SET = bool(env("SECRET_KEY", default=""))
SECRET_KEY = env("SECRET_KEY", default="") or "insecure-development-key-change-me"
DEBUG = env("DEBUG")
ALLOWED_HOSTS = env("ALLOWED_HOSTS")
CSRF_TRUSTED_ORIGINS = env("CSRF_TRUSTED_ORIGINS")

# --- HTTPS (behind a TLS-terminating proxy that sets X-Forwarded-Proto) ------------------------------
# HTTPS=true: secure cookies, HSTS, a redirect to https (except the pinger/health paths, which keep-alive
# pingers and load balancers call over plain HTTP) and X-Forwarded-Proto trusted as the request's scheme.
HTTPS = env.bool("HTTPS", default=False)
if HTTPS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = True
    SECURE_REDIRECT_EXEMPT = [r"^$", r"^health/?$", r"^status/?$", r"^metrics/?$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
    # Preloading is a commitment browsers keep for months (and lets anyone submit the domain): opt-in only,
    # so Django's reminder about it (security.W021) is silenced while it is off.
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
    if not SECURE_HSTS_PRELOAD:
        SILENCED_SYSTEM_CHECKS = ["security.W021"]
# Seconds /status reuses the database size it measured (the size query is not free on a large database).
STATUS_DATABASE_SIZE_CACHE_SECONDS = env.float("STATUS_DATABASE_SIZE_CACHE_SECONDS", default=60.0)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "channels",
    "botproject",
    "points",
    "tickets",
    "pads",
    "verification",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "botproject.middleware.content_security_policy",
]

ROOT_URLCONF = "botproject.urls"
WSGI_APPLICATION = "botproject.wsgi.application"
ASGI_APPLICATION = "botproject.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
# SQLite by default (WAL, IMMEDIATE transactions so writers queue instead of failing, a busy
# timeout); DATABASE_URL=postgres://... selects PostgreSQL with Django's native psycopg pool.
DATABASES = {"default": env.db_url("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
_db = DATABASES["default"]
if _db["ENGINE"] == "django.db.backends.sqlite3":
    _db["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": env("SQLITE_TIMEOUT"),
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
    }
    # One connection per bridge thread, kept open; a file (not :memory:) for tests so that the
    # bot's worker threads and the test share the same database.
    _db["CONN_MAX_AGE"] = None
    # Per process, so two test runs never share (and clobber) a test database; in the temp folder, so
    # the WAL side files a run leaves behind do not collect in the checkout.
    _db["TEST"] = {"NAME": str(Path(tempfile.gettempdir()) / f"communitybot-test-{os.getpid()}.sqlite3")}
elif _db["ENGINE"] == "django.db.backends.postgresql":
    _db["CONN_MAX_AGE"] = 0  # the pool keeps connections; Django closes (returns) after each unit
    # Django gives the pool check_connection, so a connection killed by a server restart is
    # replaced rather than handed out.
    _db.setdefault("OPTIONS", {})["pool"] = {"min_size": 1, "max_size": env("DB_POOL_MAX"), "timeout": 10}
    # A server that does not answer at all (host down, packets dropped) costs the pool's reconnect a few seconds,
    # not libpq's minutes (the bot's own waits are shorter still: botproject/bot/db.py).
    _db["OPTIONS"].setdefault("connect_timeout", 5)
    # The few hot statements that run on a server-binding cursor (botproject/sql.py prepared_cursor: the award) are
    # prepared after this many runs on a connection, then only planned once; Django's own cursors bind on the client
    # and never prepare. DB_PREPARED_STATEMENTS=false turns it off (a transaction-mode pooler without support).
    _db["OPTIONS"].setdefault("prepare_threshold", 5 if env.bool("DB_PREPARED_STATEMENTS", default=True) else None)
_db["CONN_HEALTH_CHECKS"] = True
DB_IS_SQLITE = _db["ENGINE"] == "django.db.backends.sqlite3"
# Threads the bot's async bridge uses for database work. SQLite has one writer anyway, so one
# thread avoids busy-waiting between our own writers; PostgreSQL gains from a few.
DB_THREADS = env("DB_THREADS") or (1 if DB_IS_SQLITE else 8)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Channels (wake-ups between the web process and the bot) -------------------------------
REDIS_URL = env("REDIS_URL", default="")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [REDIS_URL]}}
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# --- Auth, i18n, static ---------------------------------------------------------------------
# Admin login lockout (botproject/login_lockout.py): this many failed logins for a username from one
# address within the window refuse it from there until the window has passed (0 switches it off).
ADMIN_LOGIN_MAX_FAILURES = env.int("ADMIN_LOGIN_MAX_FAILURES", default=5)
ADMIN_LOGIN_LOCKOUT_SECONDS = env.int("ADMIN_LOGIN_LOCKOUT_SECONDS", default=900)
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = env("LANGUAGE_CODE", default="en")
# The project-level templates' strings live in the core catalog.
LOCALE_PATHS = [BASE_DIR / "botproject" / "locale"]
LANGUAGES = [("en", _("English")), ("vi", _("Vietnamese"))]
TIME_ZONE = env("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# After `collectstatic` (deployment) serve hashed, compressed copies; before it (first start,
# development, tests) serve the apps' files through the finders. `collectstatic` itself runs with the manifest
# storage, or it would never write the staticfiles.json that turns it on.
_collected = (STATIC_ROOT / "staticfiles.json").exists() or sys.argv[1:2] == ["collectstatic"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if _collected
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = not _collected
# WhiteNoise warns on every start when STATIC_ROOT does not exist yet; before collectstatic that is normal.
warnings.filterwarnings("ignore", message="No directory at: .*staticfiles")
WHITENOISE_AUTOREFRESH = DEBUG

EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="bot@localhost")
# Domain of the Message-ID of notices (the same id on a resend lets mail systems drop the duplicate).
EMAIL_MESSAGE_DOMAIN = env("EMAIL_MESSAGE_DOMAIN", default="communitybot.local")
# Seconds a claimed outbox row waits before another delivery attempt may take it.
OUTBOX_LEASE_SECONDS = env.float("OUTBOX_LEASE_SECONDS", default=60.0)
# Seconds between outbox sweeps (a safety net: changes wake the bot at once).
OUTBOX_SWEEP_SECONDS = env.float("OUTBOX_SWEEP_SECONDS", default=30.0)
# Tickets a member may open per rolling hour in a server (all categories together).
TICKETS_OPENS_PER_HOUR = env.int("TICKETS_OPENS_PER_HOUR", default=5)
# Direct messages a server may send to members from the admin ("Send a direct message") per rolling hour.
ADMIN_DMS_PER_HOUR = env.int("ADMIN_DMS_PER_HOUR", default=30)
# Seconds between checks for pad sessions past their deadline.
PADS_SWEEP_SECONDS = env.float("PADS_SWEEP_SECONDS", default=15.0)

# --- Discord --------------------------------------------------------------------------------
DISCORD_TOKEN = env("DISCORD_TOKEN", default="")
DISCORD_API_BASE_URL = env("DISCORD_API_BASE_URL", default="https://discord.com/api/v10")
DISCORD_GATEWAY_URL = env("DISCORD_GATEWAY_URL", default="")  # empty: Discord's own gateway
DISCORD_SYNC_GUILDS = [int(g) for g in env("DISCORD_SYNC_GUILDS") if str(g).strip()]
DISCORD_PREFIX = env("DISCORD_PREFIX", default="!")
# Extensions loaded by runbot's setup_hook, in order. An app joins this list when it has commands.
DISCORD_EXTENSIONS = [
    "botproject.cogs",
    "pads.cogs",
    "tickets.cogs",
    "points.cogs",
    "verification.cogs",
]
# Seconds discord.py waits after the last GUILD_CREATE before it calls itself ready (its default is 2).
DISCORD_GUILD_READY_TIMEOUT = env.float("DISCORD_GUILD_READY_TIMEOUT", default=0.5)
PORT = env("PORT")
WEB_HOST = env("WEB_HOST", default="0.0.0.0")
# Seconds runbot waits for in-flight interactions on SIGTERM/SIGINT before it closes anyway.
SHUTDOWN_GRACE_SECONDS = env.float("SHUTDOWN_GRACE_SECONDS", default=10.0)

# Roblox users API (verification); read at call time, so tests can point it at a local fake server.
ROBLOX_USERS_API_URL = env("ROBLOX_USERS_API_URL", default="https://users.roblox.com")

# --- Operations: metrics and backups ----------------------------------------------------------
# GET /metrics (Prometheus text format) is off unless METRICS_ENABLED; with METRICS_TOKEN set it also needs
# "Authorization: Bearer <token>".
METRICS_ENABLED = env.bool("METRICS_ENABLED", default=False)
METRICS_TOKEN = env("METRICS_TOKEN", default="")
# `manage.py backup` writes here and keeps the newest BACKUP_KEEP; BACKUP_EVERY_HOURS > 0 makes runbot take one
# on that schedule (0: only when the command is run).
BACKUP_DIR = env.path("BACKUP_DIR", default=BASE_DIR / "backups")
BACKUP_KEEP = env.int("BACKUP_KEEP", default=7)
BACKUP_EVERY_HOURS = env.float("BACKUP_EVERY_HOURS", default=0.0)

# --- Logging --------------------------------------------------------------------------------
LOG_LEVEL = env("LOG_LEVEL", default="INFO")
LOG_FILE = env("LOG_FILE", default="")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "discord": {"level": "WARNING" if LOG_LEVEL != "DEBUG" else "DEBUG"},
        "uvicorn.access": {"level": "WARNING"},
    },
}
if LOG_FILE:
    LOGGING["handlers"]["file"] = {
        "class": "logging.handlers.RotatingFileHandler",
        "filename": LOG_FILE,
        "maxBytes": 10 * 1024 * 1024,
        "backupCount": 5,
        "formatter": "plain",
        "encoding": "utf-8",
    }
    LOGGING["root"]["handlers"].append("file")

# --- Sandbox --------------------------------------------------------------------------------
# Set by `runbot --sandbox` in its own process only (with ROOT_URLCONF = botproject.sandbox.urls_root); the page at
# /sandbox/ answers 404 unless it is on. Never from the environment: a deployment cannot switch it on.
SANDBOX = False
