#!/bin/sh
# The leaf's HTTP front end against nginx returning a fixed body: the same
# wrk command (keep-alive, one POST body) against a one-thread sgs-leaf
# answering a trivial query (k = 0 on a tiny shard) and a one-worker nginx
# answering the same bytes with `return 200`, in the same run.
#   SGS_BENCH_SECONDS      wrk duration per run (default 5)
#   SGS_BENCH_CONNECTIONS  wrk connections (default 32)
#   SGS_BENCH_ROUNDS       alternating rounds per server (default 5)
# Prints one JSON line per run and a summary line with the best and median
# requests/s of each and their ratios (the machine is shared: rounds
# alternate so both servers see the same noise).
set -eu
cd "$(dirname "$0")/.."
B=${SGS_BUILD:-build/release}
SECONDS_=${SGS_BENCH_SECONDS:-5}
CONNS=${SGS_BENCH_CONNECTIONS:-32}
ROUNDS=${SGS_BENCH_ROUNDS:-5}
for tool in nginx wrk; do
    command -v $tool >/dev/null 2>&1 || [ -x /usr/sbin/$tool ] ||
        { echo "bench-leaf-http: $tool missing (scripts/deps.sh bench)" >&2; exit 2; }
done
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
W=$(mktemp -d /tmp/sgs-bench-leaf-http.XXXXXX)
LEAF_PID=
NGINX_PID=
cleanup() {
    [ -n "$LEAF_PID" ] && kill "$LEAF_PID" 2>/dev/null && wait "$LEAF_PID" 2>/dev/null
    [ -n "$NGINX_PID" ] && kill "$NGINX_PID" 2>/dev/null && wait "$NGINX_PID" 2>/dev/null
    rm -rf "$W"
}
trap cleanup EXIT INT TERM

# A tiny one-shard index.
/usr/bin/python3 -c '
import json
with open("'"$W"'/docs.jsonl", "w") as f:
    for i in range(100):
        f.write(json.dumps({"id": "d%03d" % i, "title": "hello world %d" % i, "body": "trivial"}) + "\n")
'
"$B/sgs-index" build --input "$W/docs.jsonl" --shards 1 --out "$W/idx" >/dev/null 2>&1

BODY='{"q":"hello","k":0}'
"$B/sgs-leaf" --index "$W/idx" --shard 0 --listen 127.0.0.1:0 --port-file "$W/leaf.port" \
    --threads 1 --log-level warn &
LEAF_PID=$!
i=0
while [ ! -s "$W/leaf.port" ]; do
    i=$((i + 1)); [ $i -gt 100 ] && { echo "bench-leaf-http: leaf did not start" >&2; exit 1; }
    sleep 0.1
done
LEAF_PORT=$(cat "$W/leaf.port")
LEAF_URL="http://127.0.0.1:$LEAF_PORT/v1/shard/search"
# nginx answers exactly the leaf's reply body (took_us differs per query; its
# length is kept).
REPLY=$(curl -s -H 'Content-Type: application/json' -d "$BODY" "$LEAF_URL")
NGINX_PORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$W/nginx/logs"
ESCAPED=$(printf '%s' "$REPLY" | sed 's/\\/\\\\/g; s/"/\\"/g')
cat >"$W/nginx/nginx.conf" <<CONF
worker_processes 1;
pid $W/nginx/nginx.pid;
error_log $W/nginx/logs/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    keepalive_requests 1000000;
    keepalive_timeout 60s;
    client_body_temp_path $W/nginx/body;
    proxy_temp_path $W/nginx/proxy;
    fastcgi_temp_path $W/nginx/fastcgi;
    uwsgi_temp_path $W/nginx/uwsgi;
    scgi_temp_path $W/nginx/scgi;
    server {
        listen 127.0.0.1:$NGINX_PORT;
        location = /v1/shard/search {
            default_type application/json;
            return 200 "$ESCAPED";
        }
    }
}
CONF
"$NGINX" -p "$W/nginx" -c "$W/nginx/nginx.conf" -g 'daemon off;' &
NGINX_PID=$!
sleep 0.5
NGINX_URL="http://127.0.0.1:$NGINX_PORT/v1/shard/search"

cat >"$W/post.lua" <<LUA
wrk.method = "POST"
wrk.body = '$BODY'
wrk.headers["Content-Type"] = "application/json"
LUA

run() { # name url
    out=$(wrk -t1 -c"$CONNS" -d"${SECONDS_}s" --latency -s "$W/post.lua" "$2")
    rps=$(printf '%s\n' "$out" | awk '/Requests\/sec/ {print $2}')
    p50=$(printf '%s\n' "$out" | awk '$1 == "50%" {print $2}')
    p99=$(printf '%s\n' "$out" | awk '$1 == "99%" {print $2}')
    errs=$(printf '%s\n' "$out" | awk '/Non-2xx|Socket errors/ {print}' | tr '\n' ' ')
    printf '{"server":"%s","rps":%s,"p50":"%s","p99":"%s","errors":"%s"}\n' "$1" "$rps" "$p50" "$p99" "$errs"
    echo "$rps" >>"$W/$1.rps"
}

r=0
while [ $r -lt "$ROUNDS" ]; do
    run nginx "$NGINX_URL"
    run sgs-leaf "$LEAF_URL"
    r=$((r + 1))
done
best() { sort -n "$W/$1.rps" | tail -1; }
median() { sort -n "$W/$1.rps" | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
printf '{"summary":true,"cmd":"wrk -t1 -c%s -d%ss --latency -s post.lua URL","rounds":%s,' "$CONNS" "$SECONDS_" "$ROUNDS"
printf '"nginx_best_rps":%s,"leaf_best_rps":%s,"best_ratio":%s,' "$(best nginx)" "$(best sgs-leaf)" \
    "$(ratio "$(best sgs-leaf)" "$(best nginx)")"
printf '"nginx_median_rps":%s,"leaf_median_rps":%s,"median_ratio":%s}\n' "$(median nginx)" \
    "$(median sgs-leaf)" "$(ratio "$(median sgs-leaf)" "$(median nginx)")"
