#!/usr/bin/env bash
# Cost of metrics on the hot path, in instructions (deterministic on a shared, noisy machine):
# `seed-server` runs under `valgrind --tool=callgrind` while `rivetkit-loadgen` sends requests,
# one at a time, to one actor — HTTP actions for D seconds, then WebSocket actions for D
# seconds. Each configuration runs with D1 and with D2; the difference of the two instruction
# totals over the difference of the requests served (as loadgen counts them) is the server's
# instructions per request, start-up and shutdown cancelled out.
#
#   benches/metrics_cost.sh                         # this tree's seed-server, metrics off and on
#   BASELINE_BIN=/path/to/seed-server benches/metrics_cost.sh   # and another build, e.g. main's
#
# Environment: D1 (2), D2 (8) seconds, CARGO_TARGET_DIR. Loopback only; every server it starts is
# stopped and its data removed on exit. Prints a Markdown table on stdout.
set -euo pipefail
unset RUST_BACKTRACE RUST_LOG

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
D1="${D1:-2}"
D2="${D2:-8}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
cd "$ROOT"
cargo build --release -p seed -p rivetkit-loadgen >&2
BIN="$CARGO_TARGET_DIR/release"
LOADGEN="$BIN/rivetkit-loadgen"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/rivetkit-metrics-cost.XXXXXX")"
SERVER_PID=""
cleanup() {
  if [[ -n "$SERVER_PID" ]]; then kill "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# "INSTRUCTIONS REQUESTS" of one server run: $1 binary, $2 seconds of each kind, then flags.
instructions() {
  local binary="$1" seconds="$2"; shift 2
  local port data out
  port="$(free_port)"
  data="$(mktemp -d "$WORK/data.XXXXXX")"
  out="$WORK/callgrind.$port"
  valgrind --tool=callgrind --callgrind-out-file="$out" \
    "$binary" --port "$port" --data-dir "$data" "$@" >/dev/null 2>"$WORK/valgrind.$port.log" &
  SERVER_PID=$!
  for _ in $(seq 600); do
    curl -fs "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
    sleep 0.1
  done
  local url="http://127.0.0.1:$port"
  local requests=0 mode line
  for mode in http-action ws; do
    line="$(timeout 120 "$LOADGEN" --url "$url" --mode "$mode" --key-prefix cost --warmup 0 \
      --duration "$seconds")" || exit 1
    requests=$(( requests + $(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["requests"])' "$line") ))
  done
  kill -TERM "$SERVER_PID"
  wait "$SERVER_PID" || true
  SERVER_PID=""
  # "summary: N" is the run's total of instructions (event Ir).
  echo "$(sed -n 's/^summary: //p' "$out") $requests"
}

# Instructions per request (one HTTP action plus one WebSocket action), for $1 binary and flags.
per_request() {
  local binary="$1"; shift
  local small large
  small=($(instructions "$binary" "$D1" "$@")) || exit 1
  large=($(instructions "$binary" "$D2" "$@")) || exit 1
  echo "per-request: ${small[*]} -> ${large[*]}" >&2
  echo $(( (large[0] - small[0]) / (large[1] - small[1]) ))
}

metrics_port="$(free_port)"
baseline=""
[[ -z "${BASELINE_BIN:-}" ]] || baseline="$(per_request "$BASELINE_BIN")"
off="$(per_request "$BIN/seed-server")"
on="$(per_request "$BIN/seed-server" --metrics-port "$metrics_port")"
echo "| build | metrics | instructions per HTTP action + WS action |"
echo "|---|---|---|"
if [[ -n "$baseline" ]]; then
  echo "| baseline (\`BASELINE_BIN\`) | — | $baseline |"
fi
echo "| this tree | off | $off |"
echo "| this tree | on (\`--metrics-port\`) | $on |"
echo "on vs off: $(python3 -c "print(f'{($on / $off - 1) * 100:+.2f} %')")"
[[ -z "$baseline" ]] || echo "on vs baseline: $(python3 -c "print(f'{($on / $baseline - 1) * 100:+.2f} %')")"
