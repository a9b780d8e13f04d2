// Shared harness: starts the Rust seed-server under test, builds official clients,
// and provides bounded waiting helpers so a broken server fails instead of hanging.
import { spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

if (process.env.WS_TRACE === "1") await import("./ws-trace.mjs");

import * as client215 from "rivetkit/client";
import * as client2033 from "rivetkit-2033/client";
import * as client221 from "rivetkit-221/client";
import * as client2319 from "rivetkit-2319/client";

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const NODE_DIR = path.resolve(HERE, "..");

/**
 * Client versions under test. `rawWs` is the name of the raw WebSocket method.
 * `retriesRefusedReconnect`: whether a connection keeps retrying when its first reconnect attempt
 * finds nothing listening (2.2.x and 2.3.x stop after it: they expect a gateway that outlives
 * the actor host). `getForIdChecksName`: whether `getForId(name, id)` refuses an actor of
 * another name (2.2.x and 2.3.x send the call to the id, as the engine routes it).
 */
export const VERSIONS = [
	{ version: "2.3.19", mod: client2319, rawWs: "webSocket", parsesCloseReason: true, urlAuth: true, wsToken: true, retriesRefusedReconnect: false, getForIdChecksName: false },
	{ version: "2.2.1", mod: client221, rawWs: "webSocket", parsesCloseReason: true, urlAuth: true, wsToken: true, retriesRefusedReconnect: false, getForIdChecksName: false },
	{ version: "2.1.5", mod: client215, rawWs: "webSocket", parsesCloseReason: true, urlAuth: true, wsToken: true, retriesRefusedReconnect: true, getForIdChecksName: true },
	{ version: "2.0.33", mod: client2033, rawWs: "websocket", parsesCloseReason: false, urlAuth: false, wsToken: false, retriesRefusedReconnect: true, getForIdChecksName: true },
];
export const ENCODINGS = ["json", "cbor", "bare"];

function envList(name) {
	const v = process.env[name];
	return v ? v.split(",").map((s) => s.trim()).filter(Boolean) : null;
}

/** Every (client version × encoding) combination, optionally narrowed by
 * TEST_VERSIONS=2.1.5 / TEST_ENCODINGS=json,cbor. */
export function combos() {
	const vs = envList("TEST_VERSIONS");
	const es = envList("TEST_ENCODINGS");
	const out = [];
	for (const v of VERSIONS) {
		if (vs && !vs.includes(v.version)) continue;
		for (const encoding of ENCODINGS) {
			if (es && !es.includes(encoding)) continue;
			out.push({ ...v, encoding, tag: `${v.version}/${encoding}` });
		}
	}
	return out;
}

// ---------------------------------------------------------------- timing helpers

export const STEP_TIMEOUT_MS = Number(process.env.STEP_TIMEOUT_MS ?? 10_000);
export const TEST_TIMEOUT_MS = Number(process.env.TEST_TIMEOUT_MS ?? 60_000);

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Rejects with a descriptive error if `promise` does not settle within `ms`. */
export function within(promise, label, ms = STEP_TIMEOUT_MS) {
	let timer;
	const timeout = new Promise((_, reject) => {
		timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${label}`)), ms);
	});
	return Promise.race([Promise.resolve(promise), timeout]).finally(() => clearTimeout(timer));
}

/** Waits until `pred()` is truthy (polling), or fails with `label`. */
export async function until(pred, label, ms = STEP_TIMEOUT_MS) {
	const deadline = Date.now() + ms;
	for (;;) {
		const v = await pred();
		if (v) return v;
		if (Date.now() > deadline) {
			throw new Error(`condition not met after ${ms} ms: ${typeof label === "function" ? label() : label}`);
		}
		await sleep(20);
	}
}

/** Expects `promise` to reject; returns the rejection reason. */
export async function rejection(promise, label, ms = STEP_TIMEOUT_MS) {
	let value;
	try {
		value = await within(promise, label, ms);
	} catch (err) {
		if (err instanceof Error && err.message.startsWith("timed out after")) throw err;
		return err;
	}
	throw new Error(`expected rejection but resolved with ${JSON.stringify(value)}: ${label}`);
}

/** Collects events into an array; `next(n)` waits for the array to hold n entries. */
export function collector() {
	const items = [];
	return {
		items,
		push: (...args) => items.push(args.length <= 1 ? args[0] : args),
		wait: (n, label) =>
			until(() => items.length >= n, () => `${label} (have ${items.length}/${n}: ${JSON.stringify(items)})`),
	};
}

let uniq = 0;
/** Unique key part so tests sharing one server never collide. */
export function uid(prefix = "k") {
	uniq += 1;
	return `${prefix}-${process.pid}-${Date.now().toString(36)}-${uniq}`;
}

// ---------------------------------------------------------------- server

export function serverBin() {
	const bin = process.env.SEED_SERVER_BIN
		? path.resolve(process.env.SEED_SERVER_BIN)
		: path.resolve(NODE_DIR, "../../target/debug/seed-server");
	if (!fs.existsSync(bin)) {
		throw new Error(
			`seed-server binary not found at ${bin}. Build it (cargo build -p seed --bin seed-server) ` +
				`or point SEED_SERVER_BIN at it.`,
		);
	}
	return bin;
}

export function freePort() {
	return new Promise((resolve, reject) => {
		const srv = net.createServer();
		srv.unref();
		srv.on("error", reject);
		srv.listen(0, "127.0.0.1", () => {
			const { port } = srv.address();
			srv.close(() => resolve(port));
		});
	});
}

export function portIsFree(port) {
	return new Promise((resolve) => {
		const srv = net.createServer();
		srv.once("error", () => resolve(false));
		srv.listen(port, "127.0.0.1", () => srv.close(() => resolve(true)));
	});
}

/**
 * A seed-server process on 127.0.0.1 with its own temp data dir.
 * `restart()` starts it again on the same port and data dir; `kill9()` SIGKILLs it; `reload()`
 * restarts it in place (SIGHUP).
 */
/** Set by `run.sh` with `ENGINE=1`: seed-server runs as an envoy of the Rivet Engine at this URL,
 * and the clients reach it through the engine's gateway. */
export const ENGINE_ENDPOINT = process.env.ENGINE_ENDPOINT || null;

export class SeedServer {
	constructor({ token, port, dataDir } = {}) {
		this.bin = serverBin();
		this.token = token;
		this.port = port;
		this.dataDir = dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), "seed-node-data-"));
		this.logPath = `${this.dataDir}.log`;
		this.proc = null;
		this.generation = 0;
	}

	get endpoint() {
		return ENGINE_ENDPOINT ?? `http://127.0.0.1:${this.port}`;
	}

	/** Whether the server is up: its `/health`, or in engine mode its envoy registered. */
	async #ready() {
		if (ENGINE_ENDPOINT) {
			const registered = this.logTail(Infinity).match(/envoy registered with the Rivet Engine/g) ?? [];
			return registered.length >= this.generation;
		}
		try {
			const res = await fetch(`${this.endpoint}/health`, { signal: AbortSignal.timeout(1000) });
			return res.status === 200;
		} catch {
			return false;
		}
	}

	async start() {
		if (!this.port) this.port = await freePort();
		const args = ENGINE_ENDPOINT
			? ["--engine", ENGINE_ENDPOINT]
			: ["--host", "127.0.0.1", "--port", String(this.port), "--data-dir", this.dataDir];
		if (this.token !== undefined) args.push("--token", this.token);
		this.generation += 1;
		const log = fs.openSync(this.logPath, "a");
		fs.writeSync(log, `\n===== start #${this.generation}: ${this.bin} ${args.join(" ")}\n`);
		const env = { ...process.env };
		// The server must take its token from the flag only; do not leak test env into it.
		delete env.RIVETKIT_TOKEN;
		for (const k of ["RIVET_ENDPOINT", "RIVET_TOKEN", "RIVET_NAMESPACE", "RIVET_ENGINE"]) delete env[k];
		const proc = spawn(this.bin, args, { stdio: ["ignore", log, log], env });
		fs.closeSync(log);
		this.proc = proc;
		let exited = null;
		proc.once("exit", (code, signal) => {
			exited = { code, signal };
		});
		const deadline = Date.now() + Number(process.env.SERVER_START_TIMEOUT_MS ?? 30_000);
		for (;;) {
			if (exited) {
				throw new Error(
					`seed-server exited during startup (${JSON.stringify(exited)}); log ${this.logPath}:\n${this.logTail()}`,
				);
			}
			if (await this.#ready()) return this;
			if (Date.now() > deadline) {
				await this.kill9();
				throw new Error(`seed-server did not answer GET /health with 200 in time; log ${this.logPath}:\n${this.logTail()}`);
			}
			await sleep(100);
		}
	}

	logTail(n = 40) {
		try {
			return fs.readFileSync(this.logPath, "utf8").split("\n").slice(-n).join("\n");
		} catch {
			return "(no log)";
		}
	}

	async #signal(sig) {
		const proc = this.proc;
		if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
		const done = new Promise((r) => proc.once("exit", r));
		proc.kill(sig);
		await within(done, `seed-server exit after ${sig}`, 10_000).catch(() => proc.kill("SIGKILL"));
	}

	kill9() {
		return this.#signal("SIGKILL");
	}

	/** SIGTERM, then waits (bounded) for the server to drain and exit on its own; resolves with
	 * its exit `{ code, signal }`. */
	async terminate(ms = 30_000) {
		const proc = this.proc;
		const exited = new Promise((r) => proc.once("exit", (code, signal) => r({ code, signal })));
		proc.kill("SIGTERM");
		return within(exited, "seed-server exits after SIGTERM", ms);
	}

	async restart() {
		await this.kill9();
		return this.start();
	}

	/** SIGHUP: the server drains (actions in flight finish, WebSockets close with 1001) without
	 * refusing connections, then re-executes itself (same pid) on the same listening socket;
	 * resolves once the new image listens. */
	async reload(ms = 30_000) {
		const proc = this.proc;
		const listening = () => (this.logTail(Infinity).match(/rivetkit server listening/g) ?? []).length;
		const before = listening();
		proc.kill("SIGHUP");
		await until(
			() => {
				if (proc.exitCode !== null || proc.signalCode !== null) {
					throw new Error(`seed-server exited after SIGHUP (${proc.exitCode ?? proc.signalCode}):\n${this.logTail()}`);
				}
				return listening() > before;
			},
			"seed-server listens again after SIGHUP",
			ms,
		);
	}

	async stop({ keepData = process.env.KEEP_DATA === "1" } = {}) {
		await this.#signal("SIGTERM");
		if (!keepData) {
			fs.rmSync(this.dataDir, { recursive: true, force: true });
			fs.rmSync(this.logPath, { force: true });
		}
	}
}

/**
 * Registers a fresh server for the current test file: started in a top-level `before`,
 * stopped in a top-level `after`. Returns a getter-bearing holder `{ server }`.
 * Must be called at module top level (node:test hooks bind to the current suite).
 */
export function useServer({ before, after }, opts = {}) {
	const holder = { server: null };
	before(async () => {
		holder.server = new SeedServer(opts);
		await holder.server.start();
	});
	after(async () => {
		if (holder.server) await holder.server.stop();
	});
	return holder;
}

// ---------------------------------------------------------------- clients

/**
 * Creates an official client of version `combo` and registers it for disposal.
 * Pass `tracker` (an array) to collect it; `disposeAll(tracker)` disposes them.
 */
export function makeClient(combo, config, tracker) {
	const client = combo.mod.createClient({ encoding: combo.encoding, ...config });
	if (tracker) tracker.push(client);
	return client;
}

/**
 * The setup every per-combo `describe(combo.tag, ...)` body starts with; pass the file's
 * `afterEach` hook (node:test hooks bind to the current suite). Returns `opts` (the per-test
 * timeout for `test()`), `clients` (a tracker disposed after every test, for makeClient) and
 * `client()`: a new official client of `combo` against `srv.server` (`srv` from useServer),
 * tracked in `clients`.
 */
export function comboSetup(combo, { afterEach }, srv) {
	const clients = [];
	afterEach(() => disposeAll(clients));
	const opts = { timeout: TEST_TIMEOUT_MS };
	const client = () => makeClient(combo, { endpoint: srv.server.endpoint }, clients);
	return { opts, clients, client };
}

export async function disposeAll(tracker) {
	const list = tracker.splice(0);
	await Promise.all(
		list.map((c) => within(Promise.resolve().then(() => c.dispose()), "client.dispose()", 5000).catch(() => {})),
	);
}

/** Opens a raw WebSocket through the version's own method and waits for `open`. */
export async function openRawWebSocket(combo, handle, pathArg) {
	const ws = await within(handle[combo.rawWs](pathArg), `${combo.rawWs}(${JSON.stringify(pathArg)})`);
	if (ws.readyState !== 1) {
		await within(
			new Promise((resolve, reject) => {
				ws.addEventListener("open", () => resolve(), { once: true });
				ws.addEventListener("error", (e) => reject(new Error(`raw websocket error: ${e?.message ?? e}`)), {
					once: true,
				});
				ws.addEventListener(
					"close",
					(e) => reject(new Error(`raw websocket closed before open: ${e.code} ${e.reason}`)),
					{ once: true },
				);
			}),
			"raw websocket open",
		);
	}
	return ws;
}

/** Text of a raw WebSocket message event, whatever the frame type. */
export function frameText(data) {
	if (typeof data === "string") return data;
	if (data instanceof ArrayBuffer) return new TextDecoder().decode(data);
	if (ArrayBuffer.isView(data)) return new TextDecoder().decode(data);
	return String(data);
}

/** Asserts that `err` is the version's ActorError with the given code (and group if given). */
export function isActorError(combo, err, code, group) {
	return (
		err instanceof combo.mod.ActorError &&
		err.code === code &&
		(group === undefined || err.group === group)
	);
}

/** Like isActorError, but also accepts the client's own error classes (e.g. the
 * ActorNotFound the client throws itself after an empty lookup), which are not
 * instances of the exported ActorError. */
export function isErrorWithCode(err, code, group) {
	return err instanceof Error && err.code === code && (group === undefined || err.group === group);
}

export function describeErr(err) {
	if (!err) return String(err);
	return `${err.constructor?.name}(group=${err.group}, code=${err.code}, message=${JSON.stringify(err.message)}, metadata=${JSON.stringify(err.metadata)})`;
}
