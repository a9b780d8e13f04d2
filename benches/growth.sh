#!/usr/bin/env bash
# Growth series and scale checks (issue 11): how the cost of an action grows with the size of
# the state, with the number of actors, and with the number of WebSocket subscribers of one
# actor's event. Release `seed-server` (examples/seed) and `rivetkit-loadgen`; every series runs on
# a fresh server with a fresh data dir. Prints Markdown tables on stdout (results also in $OUT).
#
#   benches/growth.sh                                  # all three series, ~8 min
#   ONLY=state DURATION=5 benches/growth.sh            # one series
#   ACTOR_COUNTS="1 1000" SUBSCRIBERS="10 1000" benches/growth.sh   # without the scale checks
#
# Series (ONLY picks some, space-separated: state actors conns):
#
# * state: a `bloated` actor (a counter whose state also holds SIZE bytes of padding, set by its
#   create input) for each of SIZES; `increment` (changes the count only) at c=1 and c=16 on one
#   actor and at c=16 over 16 actors, and `grow` (also appends one byte to the padding, so the
#   state's length changes) at c=1 for GROW_CALLS calls. Server CPU and bytes written
#   (/proc/pid/io) per action.
# * actors: for each of ACTOR_COUNTS, a fresh server; N counters created (timed), one
#   `increment` on each (every actor woken once), then `increment` at c=16 over the N actors for
#   DURATION; the server's RSS after each step. For the largest N, also the RSS once every actor
#   has gone to sleep (counter sleep timeout 30 s; the server gives memory back after that).
# * conns: for each of SUBSCRIBERS, a fresh server; N WebSockets subscribe to `count` on one
#   counter and one more socket calls `increment`, one action in flight, for DURATION: events/s
#   and delivery latency. For the largest N, also the broadcast check: N subscribers, one
#   action, every subscriber must receive exactly that one event.
#
# Environment: ONLY, DURATION (3 s measured), WARMUP (1 s), SIZES ("100 10240 1048576"),
# GROW_CALLS (300), ACTOR_COUNTS ("1 1000 100000"), SUBSCRIBERS ("10 1000 10000"), OUT (default
# $CARGO_TARGET_DIR/growth-results), BENCH_TMPDIR (parent of the data dirs), CARGO_TARGET_DIR,
# SEED_SERVER (a seed-server binary to measure instead of the one built here).
# All traffic goes to 127.0.0.1; every server it starts is stopped and its data removed on exit.
set -euo pipefail
unset RUST_BACKTRACE RUST_LOG

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ONLY="${ONLY:-state actors conns}"
DURATION="${DURATION:-3}"
WARMUP="${WARMUP:-1}"
SIZES="${SIZES:-100 10240 1048576}"
GROW_CALLS="${GROW_CALLS:-300}"
ACTOR_COUNTS="${ACTOR_COUNTS:-1 1000 100000}"
SUBSCRIBERS="${SUBSCRIBERS:-10 1000 10000}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
OUT="${OUT:-$CARGO_TARGET_DIR/growth-results}"
TMP_PARENT="${BENCH_TMPDIR:-${TMPDIR:-/tmp}}"

# Each subscriber is one descriptor in the server and one in the load generator.
max_subscribers=$(printf '%s\n' $SUBSCRIBERS | sort -n | tail -1)
ulimit -n "$(ulimit -Hn)"
if [[ " $ONLY " == *" conns "* && "$(ulimit -n)" != unlimited ]] \
    && (( $(ulimit -n) < max_subscribers + 512 )); then
  echo "open-file limit $(ulimit -n) is too low for $max_subscribers subscribers: raise the hard limit (ulimit -Hn)" >&2
  exit 1
fi

cd "$ROOT"
echo "== building (release)" >&2
cargo build --release -p seed -p rivetkit-loadgen >&2
SERVER="${SEED_SERVER:-$CARGO_TARGET_DIR/release/seed-server}"
LOADGEN="$CARGO_TARGET_DIR/release/rivetkit-loadgen"

mkdir -p "$OUT"
WORK="$(mktemp -d "$TMP_PARENT/rivetkit-growth.XXXXXX")"
RESULTS="$OUT/results.jsonl"
: > "$RESULTS"
SEED_PID=""
cleanup() {
  if [[ -n "$SEED_PID" ]]; then kill "$SEED_PID" 2>/dev/null || true; wait "$SEED_PID" 2>/dev/null || true; fi
  cp "$WORK"/*.log "$OUT"/ 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

source "$ROOT/benches/lib.sh"

# start_seed NAME [FLAG...]: a fresh seed-server on a fresh data dir, with a metrics listener
# (the awake-actor gauge tells when actors have gone to sleep). Sets SEED_PID, URL, METRICS.
start_seed() {
  local name=$1 port metrics_port i; shift
  port=$(free_port)
  metrics_port=$(free_port)
  "$SERVER" --host 127.0.0.1 --port "$port" --metrics-port "$metrics_port" \
    --data-dir "$WORK/data-$name" "$@" > "$WORK/server-$name.log" 2>&1 &
  SEED_PID=$!
  URL="http://127.0.0.1:$port"
  METRICS="http://127.0.0.1:$metrics_port/metrics"
  for i in $(seq 1 300); do
    kill -0 "$SEED_PID" 2>/dev/null || { echo "server $name exited:" >&2; tail -20 "$WORK/server-$name.log" >&2; exit 1; }
    curl -sf -o /dev/null "$URL/health" && return 0
    sleep 0.1
  done
  echo "server $name did not become ready" >&2; exit 1
}

stop_seed() {
  kill "$SEED_PID" 2>/dev/null || true
  wait "$SEED_PID" 2>/dev/null || true
  SEED_PID=""
  rm -rf "$WORK"/data-*
}

seed_rss_kib() { rss_kib "$SEED_PID"; }
awake() { awake_actors "$METRICS"; }

# note LABEL KEY=VALUE...: one JSON line of figures the script itself measured.
note() {
  python3 - "$@" >> "$RESULTS" <<'PY'
import json, sys
row = {"label": sys.argv[1]}
for pair in sys.argv[2:]:
    key, value = pair.split("=", 1)
    row[key] = float(value) if value.replace(".", "", 1).isdigit() else value
print(json.dumps(row))
PY
}

# load LABEL FLAG...: one loadgen run against the current server; its JSON line is kept.
load() {
  local label=$1 line; shift
  if ! line=$(timeout 900 "$LOADGEN" --url "$URL" --server-pid "$SEED_PID" --label "$label" "$@" \
      2>>"$WORK/loadgen.log"); then
    line="{\"label\":\"$label\",\"failed\":true}"
  fi
  echo "$line" >> "$RESULTS"
  python3 -c 'import json,sys; r=json.loads(sys.argv[1]); print("  ", r["label"], {k: r.get(k) for k in ("rps","p50_ms","p99_ms","errors","server_cores","other_cores","server_wchar","server_rss_kib","elapsed_s","first_error") if k in r})' "$line" >&2
  kill -0 "$SEED_PID" 2>/dev/null || { echo "the server died during $label" >&2; tail -20 "$WORK"/server-*.log >&2; exit 1; }
}

# CBOR of an unsigned integer, base64: the create input of a `bloated` actor.
cbor_uint() {
  python3 -c 'import base64, struct, sys
n = int(sys.argv[1])
head = bytes([n]) if n < 24 else bytes([24, n]) if n < 256 else b"\x19" + struct.pack(">H", n) if n < 65536 else b"\x1a" + struct.pack(">I", n)
print(base64.b64encode(head).decode())' "$1"
}

timed=(--duration "$DURATION" --warmup "$WARMUP")

if [[ " $ONLY " == *" state "* ]]; then
  echo "== state-size series" >&2
  start_seed state
  for size in $SIZES; do
    bloat=(--mode setup --name bloated --input "$(cbor_uint "$size")")
    load "state/$size/setup" "${bloat[@]}" --actors 16 --key-prefix "s$size"
    load "state/$size/setup-grow" "${bloat[@]}" --actors 1 --key-prefix "g$size"
  done
  # Scenario-major: the sizes of one row are measured back to back, under the same conditions.
  for row in "c1|--actors 1 --concurrency 1" "c16|--actors 1 --concurrency 16" \
      "c16x16|--actors 16 --concurrency 16"; do
    read -r -a flags <<< "${row#*|}"
    for size in $SIZES; do
      load "state/$size/${row%%|*}" --mode http-action --name bloated --key-prefix "s$size" \
        "${flags[@]}" "${timed[@]}"
    done
  done
  # `grow` lengthens the padding by a byte a call: a bounded number of calls, on an actor of its
  # own, keeps the state near its size.
  for size in $SIZES; do
    load "state/$size/grow" --mode http-action --name bloated --key-prefix "g$size" \
      --action grow --actors 1 --concurrency 1 --warmup 0 --duration 600 --max-requests "$GROW_CALLS"
  done
  stop_seed
fi

if [[ " $ONLY " == *" actors "* ]]; then
  echo "== actor-count series" >&2
  largest=$(printf '%s\n' $ACTOR_COUNTS | sort -n | tail -1)
  for n in $ACTOR_COUNTS; do
    start_seed "actors-$n"
    note "actors/$n/started" rss_kib="$(seed_rss_kib)"
    load "actors/$n/setup" --mode setup --actors "$n" --key-prefix n
    note "actors/$n/created" rss_kib="$(seed_rss_kib)" awake="$(awake)"
    # Worker w of 16 calls actors w, w+16, …: N calls reach each actor once.
    load "actors/$n/each-once" --mode http-action --actors "$n" --key-prefix n --concurrency 16 \
      --warmup 0 --duration 600 --max-requests "$n"
    note "actors/$n/each-once-done" rss_kib="$(seed_rss_kib)" awake="$(awake)"
    load "actors/$n/c16" --mode http-action --actors "$n" --key-prefix n --concurrency 16 "${timed[@]}"
    note "actors/$n/c16-done" rss_kib="$(seed_rss_kib)" awake="$(awake)"
    if [[ "$n" == "$largest" ]]; then
      echo "   waiting for the actors to go to sleep" >&2
      waited=0
      while (( waited < 240 )) && [[ "$(awake)" != 0 ]]; do sleep 2; waited=$((waited + 2)); done
      # What the server gives back once its actors slept (it looks every 5 s) is in the figure.
      sleep 10
      note "actors/$n/asleep" rss_kib="$(seed_rss_kib)" awake="$(awake)" waited_s="$((waited + 10))"
    fi
    stop_seed
  done
fi

if [[ " $ONLY " == *" conns "* ]]; then
  echo "== connection-count series" >&2
  for n in $SUBSCRIBERS; do
    # Room for the subscribers, the socket that calls the action and the set-up requests.
    start_seed "conns-$n" --max-connections $((n + 64))
    load "conns/$n/setup" --mode setup --actors 1 --key-prefix "f$n"
    note "conns/$n/before" rss_kib="$(seed_rss_kib)"
    load "conns/$n/fanout" --mode fanout --key-prefix "f$n" --subscribers "$n" --window 1 "${timed[@]}"
    if [[ "$n" == "$max_subscribers" ]]; then
      sleep 2
      note "conns/$n/between" rss_kib="$(seed_rss_kib)"
      load "conns/$n/broadcast" --mode fanout --key-prefix "f$n" --subscribers "$n" --window 1 \
        --max-requests 1 --warmup 0 --duration 10
    fi
    stop_seed
  done
fi

python3 "$ROOT/benches/growth_report.py" "$RESULTS" | tee "$OUT/table.md"
echo "== results kept in $OUT" >&2
