#!/usr/bin/env bash
# Starts the official Rivet Engine 2.3.19 (the static binary from npm @rivetkit/engine-cli in
# this folder's node_modules) for tests and benchmarks, in the background, and waits until it
# answers. Every listener is bound to 127.0.0.1, telemetry is off.
#
#   engine.sh start DIR   starts it; DIR gets engine.json, engine.log, pid, endpoint (the
#                         guard's URL, also printed), and database (the Postgres database made)
#   engine.sh stop DIR    stops it (SIGTERM, then SIGKILL) and drops its Postgres database
#   engine.sh restart DIR kills it (SIGKILL) and starts it again on the same storage and ports
#   engine.sh join DIR NEW  starts a second node of DIR's engine (same Postgres database and
#                         NATS, same datacenter, ports of its own) with its files in NEW;
#                         `stop NEW` stops that node only (the database stays DIR's)
#
#   ENGINE_STORAGE   postgres (default: a fresh database on 127.0.0.1:5432 with NATS on
#                    127.0.0.1:4222, the multi-node backends) or file (file system under DIR)
#   ENGINE_PORT      the guard's port (default: a free one)
#   ENGINE_LOST_MS   pegboard.envoy_lost_threshold: how long the engine waits for a silent
#                    envoy before placing its actors elsewhere (default 3000; the engine's
#                    default is far longer, see README "Running on the Rivet Engine")
# The engine records an envoy as alive when it pings it (every 3 s by default): pinging every
# 500 ms keeps a short lost threshold from expiring healthy envoys (ws.registration_expired).
# Actor creation is not rate-limited here: with the engine's default (a burst of about ten per
# namespace) the eleventh create of a test run times out after 30 s.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bin="$here/node_modules/@rivetkit/engine-cli-linux-x64-musl/rivet-engine"
cmd="${1:-}"; dir="${2:-}"
[[ -n "$cmd" && -n "$dir" ]] || { echo "usage: engine.sh start|stop|restart DIR | join DIR NEW" >&2; exit 2; }
pg_admin=(psql -q -h 127.0.0.1 -U postgres -d test -v ON_ERROR_STOP=1)

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Starts the engine of DIR/engine.json and waits until it answers at DIR/endpoint.
launch() {
	# Backtraces on every internal error make the engine several times slower.
	env -u RUST_BACKTRACE "$bin" --config "$dir/engine.json" start >>"$dir/engine.log" 2>&1 &
	echo $! >"$dir/pid"
	for _ in $(seq 1 600); do
		if curl -sf "$endpoint/health" 2>/dev/null | grep -q '"runtime":"engine"'; then
			echo "$endpoint" >"$dir/endpoint"; echo "$endpoint"; return 0
		fi
		kill -0 "$(cat "$dir/pid")" 2>/dev/null || { echo "engine.sh: the engine exited; log:" >&2; tail -20 "$dir/engine.log" >&2; return 1; }
		sleep 0.1
	done
	echo "engine.sh: the engine did not answer in 60 s; log:" >&2; tail -20 "$dir/engine.log" >&2; return 1
}

case "$cmd" in
restart)
	endpoint=$(cat "$dir/endpoint")
	kill -9 "$(cat "$dir/pid")" 2>/dev/null || true
	while kill -0 "$(cat "$dir/pid")" 2>/dev/null; do sleep 0.05; done
	launch
	;;
start)
	[[ -x "$bin" ]] || { echo "engine.sh: $bin missing (npm install in $here)" >&2; exit 2; }
	mkdir -p "$dir"
	guard="${ENGINE_PORT:-$(free_port)}"; peer=$(free_port); metrics=$(free_port)
	storage="${ENGINE_STORAGE:-postgres}"
	if [[ "$storage" == postgres ]]; then
		db="rivet_engine_$(date +%s)_$$_$RANDOM"
		"${pg_admin[@]}" -c "CREATE DATABASE $db"
		echo "$db" >"$dir/database"
		backend="\"postgres\": {\"url\": \"postgresql://postgres@127.0.0.1:5432/$db?sslmode=disable\"}, \"nats\": {\"addresses\": [\"127.0.0.1:4222\"]}"
	else
		backend="\"file_system\": {\"path\": \"$dir/db\"}"
	fi
	cat >"$dir/engine.json" <<JSON
{
  "guard": {"host": "127.0.0.1", "port": $guard, "actor_ready_timeout_ms": 15000},
  "api_peer": {"host": "127.0.0.1", "port": $peer},
  "metrics": {"host": "127.0.0.1", "port": $metrics},
  "topology": {"datacenter_label": 1, "datacenters": {"default": {"datacenter_label": 1, "is_leader": true,
    "public_url": "http://127.0.0.1:$guard", "peer_url": "http://127.0.0.1:$peer"}}},
  $backend,
  "telemetry": {"enabled": false},
  "pegboard": {"base_retry_timeout": 200, "reschedule_backoff_max_exponent": 2,
    "actor_create_rate_limit_requests": 1000000, "actor_create_rate_limit_drip_rate_ms": 1,
    "envoy_update_ping_interval": 500,
    "envoy_lost_threshold": ${ENGINE_LOST_MS:-3000}, "envoy_eligible_threshold": ${ENGINE_LOST_MS:-3000}}
}
JSON
	endpoint="http://127.0.0.1:$guard"
	: >"$dir/engine.log"
	launch
	;;
join)
	new="${3:-}"
	[[ -n "$new" && -f "$dir/engine.json" ]] || { echo "usage: engine.sh join DIR NEW (DIR: a started engine)" >&2; exit 2; }
	mkdir -p "$new"
	guard=$(free_port); peer=$(free_port); metrics=$(free_port)
	# The first node's config with this node's listeners; the datacenter's public and peer
	# URLs stay the first node's (they name the datacenter, not a node).
	python3 - "$dir/engine.json" "$new/engine.json" "$guard" "$peer" "$metrics" <<'PY'
import json, sys
config = json.load(open(sys.argv[1]))
config["guard"]["port"] = int(sys.argv[3])
config["api_peer"]["port"] = int(sys.argv[4])
config["metrics"]["port"] = int(sys.argv[5])
json.dump(config, open(sys.argv[2], "w"), indent=2)
PY
	dir="$new"; endpoint="http://127.0.0.1:$guard"
	: >"$dir/engine.log"
	launch
	;;
stop)
	if [[ -f "$dir/pid" ]]; then
		pid=$(cat "$dir/pid")
		kill "$pid" 2>/dev/null || true
		for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$pid" 2>/dev/null || true
		rm -f "$dir/pid"
	fi
	if [[ -f "$dir/database" ]]; then
		"${pg_admin[@]}" -c "DROP DATABASE IF EXISTS $(cat "$dir/database") WITH (FORCE)" || true
		rm -f "$dir/database"
	fi
	;;
*) echo "usage: engine.sh start|stop|restart DIR | join DIR NEW" >&2; exit 2 ;;
esac
