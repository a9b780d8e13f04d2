#!/usr/bin/env bash
# Cost of the hot path, in instructions (deterministic on a shared, noisy machine):
# `seed-server` runs under `valgrind --tool=callgrind` while `rivetkit-loadgen` sends requests of
# one kind, one at a time, to one actor for D seconds — HTTP actions in one run, WebSocket
# actions in another (a blend of both would move with the mix a run happens to get). Each
# configuration runs with D1 and with D2; the difference of the two instruction totals over the
# difference of the requests served (as loadgen counts them) is the server's instructions per
# request, start-up and shutdown cancelled out.
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

source "$ROOT/benches/lib.sh"

# "INSTRUCTIONS REQUESTS" of one server run: $1 binary, $2 loadgen mode, $3 seconds, then flags.
instructions() {
  local binary="$1" mode="$2" seconds="$3"; shift 3
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
  local requests line
  line="$(timeout 120 "$LOADGEN" --url "$url" --mode "$mode" --key-prefix cost --warmup 0 \
    --duration "$seconds")" || exit 1
  requests="$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["requests"])' "$line")"
  kill -TERM "$SERVER_PID"
  wait "$SERVER_PID" || true
  SERVER_PID=""
  # "summary: N" is the run's total of instructions (event Ir).
  echo "$(sed -n 's/^summary: //p' "$out") $requests"
}

# "HTTP WS": instructions per HTTP action and per WebSocket action, for $1 binary and flags.
per_request() {
  local binary="$1"; shift
  local mode small large figures=()
  for mode in http-action ws; do
    small=($(instructions "$binary" "$mode" "$D1" "$@")) || exit 1
    large=($(instructions "$binary" "$mode" "$D2" "$@")) || exit 1
    echo "$mode: ${small[*]} -> ${large[*]}" >&2
    figures+=($(( (large[0] - small[0]) / (large[1] - small[1]) )))
  done
  echo "${figures[*]}"
}

metrics_port="$(free_port)"
baseline=()
[[ -z "${BASELINE_BIN:-}" ]] || baseline=($(per_request "$BASELINE_BIN"))
off=($(per_request "$BIN/seed-server"))
on=($(per_request "$BIN/seed-server" --metrics-port "$metrics_port"))
change() { python3 -c "print(f'{($1 / $2 - 1) * 100:+.1f} %')"; }
echo "| build | metrics | instructions per HTTP action | per WebSocket action |"
echo "|---|---|---:|---:|"
if [[ ${#baseline[@]} -gt 0 ]]; then
  echo "| baseline (\`BASELINE_BIN\`) | — | ${baseline[0]} | ${baseline[1]} |"
fi
echo "| this tree | off | ${off[0]} | ${off[1]} |"
echo "| this tree | on (\`--metrics-port\`) | ${on[0]} | ${on[1]} |"
echo "metrics on vs off: HTTP $(change "${on[0]}" "${off[0]}"), WebSocket $(change "${on[1]}" "${off[1]}")"
if [[ ${#baseline[@]} -gt 0 ]]; then
  echo "off vs baseline: HTTP $(change "${off[0]}" "${baseline[0]}"), WebSocket $(change "${off[1]}" "${baseline[1]}")"
  echo "on vs baseline: HTTP $(change "${on[0]}" "${baseline[0]}"), WebSocket $(change "${on[1]}" "${baseline[1]}")"
fi
