// vitest configuration for running rivetkit's driver test suite against our
// conformance-server. Normally invoked through ./run.sh, which also builds the
// binary and writes RESULTS.md; running `vitest run` directly works too.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";
import { suiteSkipPlugin } from "./lib/skip-plugin.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, "../..");

function locateServerBin() {
	if (process.env.CONFORMANCE_SERVER_BIN) return process.env.CONFORMANCE_SERVER_BIN;
	let targetDir;
	try {
		const meta = execFileSync("cargo", ["metadata", "--format-version", "1", "--no-deps"], {
			cwd: repoRoot,
			stdio: ["ignore", "pipe", "ignore"],
			maxBuffer: 64 << 20,
		});
		targetDir = JSON.parse(meta).target_directory;
	} catch {
		targetDir = process.env.CARGO_TARGET_DIR ?? path.join(repoRoot, "target");
	}
	return path.join(targetDir, "debug", "conformance-server");
}

const env = {
	CONFORMANCE_SERVER_BIN: path.resolve(locateServerBin()),
	// run.sh sets a per-run dir; a direct `vitest run` gets its own one too.
	CONFORMANCE_OUT_DIR: path.resolve(process.env.CONFORMANCE_OUT_DIR ?? path.join(here, "out", `direct-${process.pid}`)),
	CONFORMANCE_RUN_DIR:
		process.env.CONFORMANCE_RUN_DIR ?? fs.mkdtempSync(path.join(os.tmpdir(), "rivetkit-conformance-")),
};
if (!fs.existsSync(env.CONFORMANCE_SERVER_BIN)) {
	throw new Error(`conformance-server binary not found at ${env.CONFORMANCE_SERVER_BIN}; build it (cargo build -p conformance --bin conformance-server) or set CONFORMANCE_SERVER_BIN`);
}
// Fresh per-run outputs (the manifest is appended to by the suite shim).
fs.rmSync(path.join(env.CONFORMANCE_OUT_DIR, "manifest.jsonl"), { force: true });
fs.rmSync(path.join(env.CONFORMANCE_OUT_DIR, "logs"), { recursive: true, force: true });
fs.mkdirSync(path.join(env.CONFORMANCE_OUT_DIR, "pids"), { recursive: true });
fs.mkdirSync(env.CONFORMANCE_RUN_DIR, { recursive: true });
Object.assign(process.env, env);

const num = (v, d) => (v === undefined || v === "" ? d : Number(v));

export default defineConfig({
	plugins: [suiteSkipPlugin()],
	test: {
		include: ["conformance.test.mjs"],
		root: here,
		env,
		globalSetup: ["./lib/global-setup.mjs"],
		// Same timeouts and in-file concurrency as rivetkit's own vitest config.
		testTimeout: num(process.env.CONFORMANCE_TEST_TIMEOUT_MS, 10_000),
		hookTimeout: num(process.env.CONFORMANCE_TEST_TIMEOUT_MS, 10_000),
		sequence: { concurrent: true },
		maxConcurrency: num(process.env.CONFORMANCE_CONCURRENCY, 5),
		// Skips are listed with their reasons in RESULTS.md; keep the console readable.
		hideSkippedTests: true,
		// One worker process: the whole suite is one vitest file anyway.
		pool: "forks",
		poolOptions: { forks: { singleFork: true } },
		// Transform rivetkit's suite bundle so the plugin can redirect its vitest imports.
		server: { deps: { inline: [/rivetkit[\\/]dist[\\/]tsup[\\/]driver-test-suite[\\/]/] } },
	},
});
