# The bot and its Django site in one process: `python manage.py runbot --web` on $PORT (default 8000).
#   docker build -t communitybot .
#   docker run --env-file .env -p 8000:8000 -v communitybot-data:/data communitybot
# compose.yaml runs it with PostgreSQL and Redis. Configuration comes from the environment only: no secret is
# baked into the image (.dockerignore keeps .env out of the build context).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# pg_dump/pg_restore for `manage.py backup` and `restore` on PostgreSQL. The client must be at least the server's
# major version: Debian trixie's (the base image's) is 17, as is compose.yaml's server.
RUN apt-get update \
    && apt-get install -y --no-install-recommends postgresql-client \
    && rm -rf /var/lib/apt/lists/*

# The unprivileged user the bot runs as; it owns only /data (the code stays root's, read-only to it).
RUN groupadd --system --gid 10001 bot \
    && useradd --system --uid 10001 --gid bot --home-dir /data --no-create-home --shell /usr/sbin/nologin bot \
    && mkdir -p /data/backups \
    && chown -R bot:bot /data

WORKDIR /app

# The requirements alone first: this layer is rebuilt only when requirements.txt changes, not on every code change.
COPY requirements.txt ./
RUN pip install --no-cache-dir -r requirements.txt

COPY . .

# Static files, hashed and compressed for WhiteNoise (collectstatic writes staticfiles/staticfiles.json, which makes
# the settings serve them). Nothing else is needed at build time: the variables on the RUN line exist for that one
# command (no database is opened, the key signs nothing) and are not kept in the image.
RUN SECRET_KEY=collectstatic-only-not-a-secret DATABASE_URL=sqlite:////tmp/collectstatic.sqlite3 \
       python manage.py collectstatic --noinput \
    && rm -f /tmp/collectstatic.sqlite3

# SQLite (when DATABASE_URL is not given) and backups live in /data, the volume the bot's user owns. Settings come
# from the container's environment (--env-file, compose's env_file), which wins over these defaults.
ENV DATABASE_URL=sqlite:////data/db.sqlite3 \
    BACKUP_DIR=/data/backups
VOLUME ["/data"]

USER bot

EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "/app/docker/healthcheck.py"]

# Migrations at start (MIGRATE_ON_START=false skips them), then the command.
ENTRYPOINT ["/app/docker/entrypoint.sh"]
CMD ["python", "manage.py", "runbot", "--web"]
