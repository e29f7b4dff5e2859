#!/usr/bin/env bash
# Makes `pg_dump` match the database server before shipgate migrates or
# restores (action.yml runs it for migrate, run and rollback on Linux).
#
# GitHub's Ubuntu runners ship one PostgreSQL client version while Supabase,
# Neon and RDS run 15–17, and a `pg_dump` older than the server refuses to
# dump it. This asks shipgate for the server's major version
# (`migrate status` reports `server_major`), and when the `pg_dump` on PATH
# is missing or older, installs `postgresql-client-<major>` from
# PostgreSQL's apt repository and puts its bin directory first on PATH for
# the rest of the job (so a second use in the job is instant).
#
# Never fails the step: when the version cannot be read (no database
# configured, unreachable, not PostgreSQL) the migrate step reports the real
# problem itself.
set -uo pipefail

notice() { echo "::notice title=shipgate pg_dump::$*"; }

binary="${SHIPGATE_BIN:-}"
[ -x "$binary" ] || { notice "no shipgate binary; skipping the pg_dump check"; exit 0; }
[ -n "${SHIPGATE_ENV:-}" ] || unset SHIPGATE_ENV
[ -n "${SHIPGATE_CONFIG:-}" ] || unset SHIPGATE_CONFIG

report="$("$binary" migrate status --format json 2>/dev/null)"
major="$(printf '%s' "$report" | python3 -c '
import json, sys
try:
    outputs = json.load(sys.stdin).get("outputs", [])
except ValueError:
    sys.exit(0)
pairs = outputs.items() if isinstance(outputs, dict) else outputs
for key, value in pairs:
    if key == "server_major" and str(value).isdigit():
        print(value)
')"
if [ -z "$major" ]; then
    exit 0
fi

have="$(pg_dump --version 2>/dev/null | sed -n 's/^pg_dump (PostgreSQL) \([0-9][0-9]*\).*/\1/p')"
if [ -n "$have" ] && [ "$have" -ge "$major" ]; then
    echo "pg_dump $have can dump the PostgreSQL $major server"
    exit 0
fi

echo "the server runs PostgreSQL $major; pg_dump on PATH is ${have:-missing}: installing postgresql-client-$major"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
keyring=/usr/share/postgresql-common/pgdg/apt.postgresql.org.asc
codename="$(lsb_release -cs 2>/dev/null)" || codename=""
[ -n "$codename" ] || codename="$(. /etc/os-release 2>/dev/null; echo "${VERSION_CODENAME:-}")"
if [ ! -f "$keyring" ]; then
    $sudo install -d /usr/share/postgresql-common/pgdg
    $sudo curl -fsSL --max-time 60 -o "$keyring" https://www.postgresql.org/media/keys/ACCC4CF8.asc \
        || { notice "could not fetch PostgreSQL's apt key; install postgresql-client-$major yourself"; exit 0; }
fi
echo "deb [signed-by=$keyring] https://apt.postgresql.org/pub/repos/apt $codename-pgdg main" \
    | $sudo tee /etc/apt/sources.list.d/pgdg.list >/dev/null
if ! { $sudo apt-get update -qq && $sudo apt-get install -y -qq "postgresql-client-$major"; } >/dev/null; then
    notice "installing postgresql-client-$major failed; shipgate's backup will say what to do"
    exit 0
fi
bin="/usr/lib/postgresql/$major/bin"
echo "$bin" >>"${GITHUB_PATH:-/dev/null}"
echo "pg_dump from $bin will be used from now on"
