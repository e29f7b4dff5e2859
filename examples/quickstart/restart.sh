#!/bin/sh
# Restarts the quickstart app, as a VPS restart hook would (systemd, pm2):
# stop the running process, start the release shipgate just made current.
# shipgate runs this from the config's directory with SHIPGATE_RELEASE_DIR set.
set -eu
port="$1"
pid_file=.state/app.pid
if [ -f "$pid_file" ]; then
    old_pid=$(cat "$pid_file")
    kill "$old_pid" 2>/dev/null || true
    # Wait (at most 5 s) for the old process to exit and release the port; a
    # zombie waiting to be reaped counts as gone.
    tries=0
    while ps -o stat= -p "$old_pid" 2>/dev/null | grep -qv Z && [ "$tries" -lt 50 ]; do
        sleep 0.1
        tries=$((tries + 1))
    done
fi
QUICKSTART_PORT="$port" QUICKSTART_DB="$PWD/.state/app.db" \
    nohup python3 "$SHIPGATE_RELEASE_DIR/app.py" >> .state/app.log 2>&1 < /dev/null &
echo $! > "$pid_file"
