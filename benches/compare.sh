#!/usr/bin/env bash
# Compares two seed-server binaries (e.g. the last release and a change) on the same scenarios,
# interleaved round by round so that both see the same machine: prints, per scenario, the
# median requests/s and server CPU per request of each, and the ratio.
#
#   benches/compare.sh BASE_BIN HEAD_BIN          # 3 rounds of 5 s per scenario
#   ROUNDS=5 DURATION=10 benches/compare.sh A B
#   ONLY="ws-c100-w1 fanout-100 fanout-1000" benches/compare.sh A B   # some scenarios only
#
# Needs the release load generator (cargo build --release -p rivetkit-loadgen) or LOADGEN=path.
set -euo pipefail
unset RUST_BACKTRACE RUST_LOG
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BASE=$1 HEAD=$2
ROUNDS="${ROUNDS:-3}" DURATION="${DURATION:-5}"
LOADGEN="${LOADGEN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/rivetkit-loadgen}"
WORK="$(mktemp -d)"
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$WORK"' EXIT

start() { # NAME BIN -> sets PORT_<NAME>, PID_<NAME>
  local name=$1 bin=$2 port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  mkdir -p "$WORK/$name"
  "$bin" --host 127.0.0.1 --port "$port" --data-dir "$WORK/$name" > "$WORK/$name.log" 2>&1 &
  PIDS+=("$!")
  printf -v "PORT_$name" %s "$port"; printf -v "PID_$name" %s "$!"
  for _ in $(seq 300); do curl -sf -o /dev/null "http://127.0.0.1:$port/health" && return; sleep 0.1; done
  echo "$name did not start" >&2; cat "$WORK/$name.log" >&2; exit 1
}
start base "$BASE"
start head "$HEAD"

SCENARIOS=(
  "http-1actor-c16|--mode http-action --key-prefix one --actors 1 --concurrency 16"
  "http-1000actors-c16|--mode http-action --key-prefix many --actors 1000 --concurrency 16"
  "ws-w1|--mode ws --key-prefix ws --actors 1 --window 1"
  "ws-w32|--mode ws --key-prefix ws --actors 1 --window 32"
  "ws-c100-w1|--mode ws --key-prefix ws --actors 1 --connections 100 --window 1"
  "fanout-100|--mode fanout --key-prefix fan100 --actors 1 --subscribers 100 --window 1"
  "fanout-1000|--mode fanout --key-prefix fan1000 --actors 1 --subscribers 1000 --window 1"
  "fanout-1000-w8|--mode fanout --key-prefix fan1000 --actors 1 --subscribers 1000 --window 8"
)
ONLY="${ONLY:-}"
for name in base head; do
  port_var="PORT_$name"
  for spec in "one 1" "many 1000" "ws 1" "fan100 1" "fan1000 1"; do
    set -- $spec
    "$LOADGEN" --url "http://127.0.0.1:${!port_var}" --mode setup --key-prefix "$1" --actors "$2" > /dev/null
  done
done
RESULTS="$WORK/results.jsonl"
for round in $(seq "$ROUNDS"); do
  for entry in "${SCENARIOS[@]}"; do
    scenario=${entry%%|*}; read -r -a flags <<< "${entry#*|}"
    [[ -n "$ONLY" && " $ONLY " != *" $scenario "* ]] && continue
    # Alternate which server goes first, so neither always follows the other.
    order=(base head); (( round % 2 == 0 )) && order=(head base)
    for name in "${order[@]}"; do
      port_var="PORT_$name"; pid_var="PID_$name"
      "$LOADGEN" --url "http://127.0.0.1:${!port_var}" --server-pid "${!pid_var}" --duration "$DURATION" \
        --warmup 1 --label "$name/$scenario" "${flags[@]}" >> "$RESULTS"
    done
  done
  echo "round $round of $ROUNDS done" >&2
done
python3 - "$RESULTS" <<'PY'
import json, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    r = json.loads(line); server, scenario = r["label"].split("/", 1)
    rows.setdefault(scenario, {}).setdefault(server, []).append(r)
# Fan-out rows count events delivered, not requests.
print("| scenario | base req/s | head req/s | head / base | base CPU µs/req | head CPU µs/req | head / base | base p50 ms | head p50 ms |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for scenario, by in rows.items():
    def med(server, f): return statistics.median(f(r) for r in by[server])
    rps = {s: med(s, lambda r: r["rps"]) for s in ("base", "head")}
    cpu = {s: med(s, lambda r: r["server_cores"] / r["rps"] * 1e6) for s in ("base", "head")}
    p50 = {s: med(s, lambda r: r["p50_ms"]) for s in ("base", "head")}
    print(f"| {scenario} | {rps['base']:,.0f} | {rps['head']:,.0f} | {rps['head']/rps['base']:.2f} | "
          f"{cpu['base']:.1f} | {cpu['head']:.1f} | {cpu['head']/cpu['base']:.2f} | {p50['base']:.3f} | {p50['head']:.3f} |")
PY
