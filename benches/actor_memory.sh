#!/usr/bin/env bash
# Memory per actor (issue 11): the resident set of a release `seed-server` on a fresh data dir,
# read from /proc/{pid}/status, at four points: started; after `rivetkit-loadgen --mode setup`
# created N counters (records in the directory and its cache, no actor awake); after one
# `increment` on each woke all N; and once all N went to sleep again (the counter's sleep
# timeout is 30 s; the script waits until the server's `rivetkit_actors{state="awake"}` gauge
# reads 0, then 10 s more). Prints one JSON line with the figures and the bytes per actor of
# each step.
#
#   benches/actor_memory.sh                  # 10,000 counters, this tree's seed-server
#   ACTORS=5000 SEED_SERVER=/path/to/seed-server benches/actor_memory.sh
#
# Loopback only; the server is stopped and its data removed on exit.
set -euo pipefail
unset RUST_BACKTRACE RUST_LOG
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ACTORS="${ACTORS:-10000}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
cd "$ROOT"
cargo build --release -p seed -p rivetkit-loadgen >&2
SERVER="${SEED_SERVER:-$CARGO_TARGET_DIR/release/seed-server}"
LOADGEN="$CARGO_TARGET_DIR/release/rivetkit-loadgen"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/rivetkit-actor-memory.XXXXXX")"
PID=""
trap '[[ -z "$PID" ]] || kill "$PID" 2>/dev/null || true; rm -rf "$WORK"' EXIT

source "$ROOT/benches/lib.sh"
PORT="$(free_port)"
METRICS_PORT="$(free_port)"
"$SERVER" --host 127.0.0.1 --port "$PORT" --metrics-port "$METRICS_PORT" --data-dir "$WORK/data" \
  >"$WORK/server.log" 2>&1 &
PID=$!
for _ in $(seq 300); do curl -fs "http://127.0.0.1:$PORT/health" >/dev/null 2>&1 && break; sleep 0.1; done
server_rss_kib() { rss_kib "$PID"; }
awake() { awake_actors "http://127.0.0.1:$METRICS_PORT/metrics"; }

started="$(server_rss_kib)"
"$LOADGEN" --url "http://127.0.0.1:$PORT" --mode setup --actors "$ACTORS" --key-prefix mem >&2
created="$(server_rss_kib)"
# Worker w of C calls actors w, w+C, …: N requests reach each actor once.
"$LOADGEN" --url "http://127.0.0.1:$PORT" --mode http-action --actors "$ACTORS" --key-prefix mem \
  --concurrency 16 --warmup 0 --duration 600 --max-requests "$ACTORS" >&2
woken="$(server_rss_kib)"
woken_count="$(awake)"
for _ in $(seq 120); do
  [[ "$(awake)" == "0" ]] && break
  sleep 1
done
asleep_count="$(awake)"
# What the server gives back once its actors slept (it looks every 5 s) is part of the figure.
sleep 10
asleep="$(server_rss_kib)"
python3 - "$ACTORS" "$started" "$created" "$woken" "$asleep" "$woken_count" "$asleep_count" <<'PY'
import json, sys
n, started, created, woken, asleep = (int(x) for x in sys.argv[1:6])
per = lambda a, b: round((a - b) * 1024 / n)
print(json.dumps({
    "actors": n, "awake_after_calls": sys.argv[6], "awake_at_the_end": sys.argv[7],
    "rss_kib": {"started": started, "created": created, "all_awake": woken, "all_asleep": asleep},
    "bytes_per_actor": {"created": per(created, started), "awake": per(woken, created),
                         "asleep_known": per(asleep, started)},
}))
PY
