#!/usr/bin/env bash
# What an idle WebSocket costs `seed-server`: starts a release build on a free loopback port with
# a fresh data dir, opens SOCKETS (2000) protocol connections to one `counter` actor with
# `rivetkit-idle-ws` (benches/loadgen/src/bin/idle_ws.rs) and prints its JSON line: the server's
# VmRSS before and after, and the difference per socket. RUNS (3) fresh servers, one line each.
#
#   benches/idle_ws.sh
#   SOCKETS=5000 RUNS=1 benches/idle_ws.sh
set -euo pipefail
unset RUST_BACKTRACE RUST_LOG

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SOCKETS="${SOCKETS:-2000}"
RUNS="${RUNS:-3}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
cd "$ROOT"
cargo build --release -p seed -p rivetkit-loadgen --bin seed-server --bin rivetkit-idle-ws >&2
BIN="$CARGO_TARGET_DIR/release"
# Each socket is a descriptor in the server and one in the tool, plus the server's reserve.
ulimit -n "$(ulimit -Hn)"

WORK="$(mktemp -d)"
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

for run in $(seq 1 "$RUNS"); do
  PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  RUST_LOG=warn "$BIN/seed-server" --host 127.0.0.1 --port "$PORT" --data-dir "$WORK/data-$run" >&2 &
  SERVER_PID=$!
  for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break
    sleep 0.1
  done
  "$BIN/rivetkit-idle-ws" --addr "127.0.0.1:$PORT" --pid "$SERVER_PID" --sockets "$SOCKETS"
  kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
done
