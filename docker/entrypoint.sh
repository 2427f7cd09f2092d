#!/bin/sh
# Container entrypoint: bring the database schema up to date, then run the command (by default the image's CMD,
# `python manage.py runbot --web`). exec hands the process over, so runbot gets SIGTERM on `docker stop` and shuts down
# cleanly. MIGRATE_ON_START=false skips the migration (e.g. for a second process beside the one that migrates).
set -eu

if [ "${MIGRATE_ON_START:-true}" = "true" ]; then
    python manage.py migrate --noinput
fi

exec "$@"
