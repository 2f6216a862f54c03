#!/bin/sh
# Stops the local cluster scripts/run-local.sh started: exactly the PIDs in
# $SGS_DATA/run/pids (default data/run/pids), and only while each still runs
# the program recorded beside it (a reused PID is left alone). SIGTERM first
# (the servers drain and exit), SIGKILL for any still running after
# SGS_STOP_TIMEOUT_S seconds (default 10). Removes the PID file.
set -eu
cd "$(dirname "$0")/.."
DATA=${SGS_DATA:-data}
PIDS="$DATA/run/pids"
TIMEOUT=${SGS_STOP_TIMEOUT_S:-10}

if [ ! -s "$PIDS" ]; then
    echo "stop: nothing to stop ($PIDS is missing or empty)"
    rm -f "$PIDS"
    exit 0
fi

# ours PID PROG: true when PID runs PROG (its command line's first word ends
# with PROG; a line with no PROG, as older PID files have, accepts either server).
ours() {
    [ -r "/proc/$1/cmdline" ] || return 1
    exe=$(tr '\0' '\n' < "/proc/$1/cmdline" | head -n 1)
    case "${2:-}:$exe" in
        :*/sgs-leaf | :*/sgs-root) return 0 ;;
        :*) return 1 ;;
    esac
    case "$exe" in
        */"$2" | "$2") return 0 ;;
        *) return 1 ;;
    esac
}

live=
while read -r pid prog _; do
    [ -n "$pid" ] || continue
    prog=${prog:-}
    if ours "$pid" "$prog"; then
        kill -TERM "$pid" 2>/dev/null || true
        live="$live $pid:$prog"
    fi
done < "$PIDS"

end=$(($(date +%s) + TIMEOUT))
for entry in $live; do
    pid=${entry%%:*}
    prog=${entry#*:}
    while ours "$pid" "$prog" && [ "$(date +%s)" -lt "$end" ]; do
        sleep 0.1
    done
    if ours "$pid" "$prog"; then
        echo "stop: $prog (pid $pid) still runs after ${TIMEOUT}s: SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
    fi
done
n=$(echo $live | wc -w)
rm -f "$PIDS"
echo "stop: stopped $n process(es)"
