// Spawns one conformance-server per test, as the official suite assumes (a fresh
// server and a fresh data directory for every test: many tests reuse the same keys).
//
// `startServer()` is the `start` function handed to `runDriverTests`. It picks a
// free port, creates a fresh data dir, spawns the binary, waits for GET /health
// and returns `{ endpoint, namespace, runnerName, cleanup }`. `cleanup` SIGKILLs
// the process and removes its directory. Every live child is also killed when
// this worker exits, and its pid is written to `$CONFORMANCE_OUT_DIR/pids/` so
// run.sh can kill leftovers by id if the worker itself dies.

import { spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { currentTest } from "./suite-shim.mjs";

const BIN = process.env.CONFORMANCE_SERVER_BIN;
const OUT_DIR = process.env.CONFORMANCE_OUT_DIR;
const RUN_DIR = process.env.CONFORMANCE_RUN_DIR; // scratch dir for data dirs
const HEALTH_TIMEOUT_MS = Number(process.env.CONFORMANCE_HEALTH_TIMEOUT_MS ?? 10_000);
const SERVER_LOG = process.env.CONFORMANCE_SERVER_LOG ?? "info";
// Ports are drawn from below Linux's ephemeral range (32768-60999) so that
// outgoing client sockets never occupy a port we are about to hand out.
const PORT_MIN = 20_000;
const PORT_MAX = 32_000;

const live = new Map(); // pid -> child
const portsInUse = new Set();
let serial = 0;

function killAllSync() {
	for (const [pid, child] of live) {
		try {
			child.kill("SIGKILL");
		} catch {}
		try {
			fs.rmSync(path.join(OUT_DIR, "pids", String(pid)), { force: true });
		} catch {}
	}
	live.clear();
}
process.on("exit", killAllSync);
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) {
	process.once(sig, () => {
		killAllSync();
		// vitest intercepts process.exit() in workers: re-raise the signal instead,
		// which terminates unless someone else handles it.
		if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
	});
}
// If vitest's main process dies, this worker is re-parented: kill the servers
// and leave rather than linger.
const parentAtStart = process.ppid;
setInterval(() => {
	if (process.ppid !== parentAtStart) {
		killAllSync();
		process.kill(process.pid, "SIGKILL");
	}
}, 500).unref();

function portIsFree(port) {
	return new Promise((resolve) => {
		const srv = net.createServer();
		srv.unref();
		srv.once("error", () => resolve(false));
		srv.listen({ host: "127.0.0.1", port, exclusive: true }, () => {
			srv.close(() => resolve(true));
		});
	});
}

async function pickPort() {
	for (let i = 0; i < 200; i++) {
		const port = PORT_MIN + Math.floor(Math.random() * (PORT_MAX - PORT_MIN));
		if (portsInUse.has(port)) continue;
		portsInUse.add(port);
		if (await portIsFree(port)) return port;
		portsInUse.delete(port);
	}
	throw new Error("conformance harness: no free port found");
}

function safeName(s) {
	return s.replace(/[^A-Za-z0-9._-]+/g, "_").slice(0, 120);
}

async function waitHealthy(child, endpoint, exited) {
	const deadline = Date.now() + HEALTH_TIMEOUT_MS;
	while (Date.now() < deadline) {
		if (exited.value) return false;
		try {
			const res = await fetch(`${endpoint}/health`, { signal: AbortSignal.timeout(1000) });
			await res.arrayBuffer().catch(() => {});
			// The child must still be alive: if it failed to bind, the answer came
			// from some other process that owns the port.
			if (res.status === 200 && !exited.value) return true;
		} catch {}
		await new Promise((r) => setTimeout(r, 25));
	}
	throw new Error(`conformance-server at ${endpoint} did not answer GET /health with 200 within ${HEALTH_TIMEOUT_MS} ms`);
}

async function spawnOnce() {
	const port = await pickPort();
	const n = ++serial;
	const t = currentTest();
	const label = t ? `${t.encoding}/${t.file}/${safeName(t.title)}` : `unknown/${n}`;
	const dataDir = fs.mkdtempSync(path.join(RUN_DIR, `srv-${n}-`));
	const logPath = path.join(OUT_DIR, "logs", `${label}.${n}.log`);
	fs.mkdirSync(path.dirname(logPath), { recursive: true });
	const logFd = fs.openSync(logPath, "w");
	const endpoint = `http://127.0.0.1:${port}`;
	const child = spawn(
		BIN,
		["--host", "127.0.0.1", "--port", String(port), "--data-dir", path.join(dataDir, "data")],
		{
			stdio: ["ignore", logFd, logFd],
			env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? SERVER_LOG, RUST_BACKTRACE: "1", NO_COLOR: "1" },
		},
	);
	fs.closeSync(logFd);
	const exited = { value: false, code: null, signal: null };
	const exitPromise = new Promise((resolve) => {
		child.once("exit", (code, signal) => {
			Object.assign(exited, { value: true, code, signal });
			resolve();
		});
		child.once("error", (err) => {
			Object.assign(exited, { value: true, code: String(err) });
			resolve();
		});
	});
	if (child.pid !== undefined) {
		live.set(child.pid, child);
		fs.writeFileSync(path.join(OUT_DIR, "pids", String(child.pid)), `${port}\n`);
	}

	let cleaned = false;
	const cleanup = async () => {
		if (cleaned) return;
		cleaned = true;
		if (!exited.value) child.kill("SIGKILL");
		await exitPromise;
		live.delete(child.pid);
		portsInUse.delete(port);
		fs.rmSync(path.join(OUT_DIR, "pids", String(child.pid)), { force: true });
		fs.rmSync(dataDir, { recursive: true, force: true });
	};

	let ok;
	try {
		ok = await waitHealthy(child, endpoint, exited);
	} catch (err) {
		await cleanup();
		throw new Error(`${err.message} (server log: ${logPath})`);
	}
	if (!ok) {
		await cleanup();
		return { retry: true, why: `exited early (code ${exited.code}, signal ${exited.signal}), log: ${logPath}` };
	}
	// If the server dies during the test, note it in its log for the post-mortem.
	exitPromise.then(() => {
		if (!cleaned) fs.appendFileSync(logPath, `\n[harness] conformance-server exited during the test: code ${exited.code}, signal ${exited.signal}\n`);
	});
	return { endpoint, cleanup };
}

export async function startServer() {
	if (!BIN) throw new Error("CONFORMANCE_SERVER_BIN is not set (run via run.sh or vitest.config.mjs)");
	let lastWhy = "";
	for (let attempt = 0; attempt < 5; attempt++) {
		const r = await spawnOnce();
		if (!r.retry) {
			return { endpoint: r.endpoint, namespace: "default", runnerName: "default", cleanup: r.cleanup };
		}
		lastWhy = r.why;
	}
	throw new Error(`conformance-server failed to start 5 times; last: ${lastWhy}`);
}
