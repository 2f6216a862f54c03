#!/bin/sh
# Stops the local cluster scripts/run-local.sh started: SIGTERM to each PID
# it recorded in $DATA/run/pids (and only those), then waits for them.
set -u
cd "$(dirname "$0")/.."
DATA=${SGS_DATA:-data}
PIDS="$DATA/run/pids"
[ -s "$PIDS" ] || { echo "stop: no local cluster recorded in $PIDS"; exit 0; }
for pid in $(cat "$PIDS"); do
    kill -TERM "$pid" 2>/dev/null || true
done
for pid in $(cat "$PIDS"); do
    i=0
    while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
done
: > "$PIDS"
echo "stop: local cluster stopped"
