// Restart-recovery time of official JS clients, for the reliability suite (reliability/ crate,
// scenario js-reconnect). Not a node:test file: it prints one JSON line of measurements.
//
//   SEED_SERVER_BIN   the seed-server binary
//   RESTART           kill9 (SIGKILL, then start again at once) or sighup (a graceful restart in
//                     place: the server drains and re-executes itself on the same socket)
//   CLIENTS           connected clients (default 50)
//   CLIENT_VERSION    an official client version from lib/harness.mjs (default 2.3.19)
//   GIVE_UP_MS        how long a connection gets to come back by itself (default 10000)
//
// Each client holds a connection to a counter of its own, subscribed to its `count` event, with
// one acknowledged increment. The server is restarted on the same port and data dir; a client
// is back when an increment over its connection answers 2 and its event arrives. A connection
// that has not come back by itself by GIVE_UP_MS (2.2.x and 2.3.x clients stop reconnecting when
// their first attempt is refused) is replaced by a new one, as an application would.
import { SeedServer, VERSIONS, sleep, uid, until, within } from "../lib/harness.mjs";

const restartKind = process.env.RESTART ?? "kill9";
const clients = Number(process.env.CLIENTS ?? 50);
const version = process.env.CLIENT_VERSION ?? "2.3.19";
const giveUpMs = Number(process.env.GIVE_UP_MS ?? 10_000);
const combo = VERSIONS.find((v) => v.version === version);
if (!combo) throw new Error(`unknown client version ${version}`);

/** Waits until `conn` answers an increment with `expected` and its event follows. */
async function backOn(conn, events, expected, deadlineMs) {
	await until(() => conn.isConnected, "isConnected", Math.max(1, deadlineMs - Date.now()));
	const count = await within(conn.increment(1), "increment", Math.max(1, deadlineMs - Date.now()));
	if (count !== expected) throw new Error(`increment answered ${count}, expected ${expected}`);
	await until(() => events.includes(expected), `count event ${expected}`, Math.max(1, deadlineMs - Date.now()));
}

const server = new SeedServer();
await server.start();
const result = { restart: restartKind, version, clients };
const client = combo.mod.createClient({ endpoint: server.endpoint, encoding: "json" });
try {
	const held = [];
	for (let i = 0; i < clients; i++) {
		const handle = client.counter.getOrCreate([uid("reconnect")]);
		const conn = handle.connect();
		const events = [];
		conn.on("count", (count) => events.push(count));
		const entry = { handle, conn, events, opens: 0 };
		conn.onOpen(() => {
			entry.opens += 1;
		});
		held.push(entry);
	}
	await Promise.all(held.map(({ conn, events }) => backOn(conn, events, 1, Date.now() + 20_000)));

	const restartedAt = Date.now();
	if (restartKind === "sighup") {
		await server.reload();
	} else {
		await server.restart();
	}
	result.serverBackMs = Date.now() - restartedAt;

	const deadline = restartedAt + giveUpMs;
	const selfMs = [];
	const replaced = [];
	// Why a connection did not come back by itself: what a failing run needs to be understood.
	const notBackBecause = [];
	await Promise.all(
		held.map(async (entry) => {
			try {
				if (restartKind === "sighup") {
					// Its first connection is closed (1001) only once the drain reaches it, after
					// the signal: until then `isConnected` still reads true, and an increment sent
					// in that window is counted twice by 2.3.19 (answered 3, not 2).
					await until(() => entry.opens >= 2, "onOpen after the restart", Math.max(1, deadline - Date.now()));
				}
				await backOn(entry.conn, entry.events, 2, deadline);
				selfMs.push(Date.now() - restartedAt);
			} catch (err) {
				notBackBecause.push(`opens ${entry.opens}, events ${JSON.stringify(entry.events)}: ${err?.message ?? err}`);
				replaced.push(entry);
			}
		}),
	);
	const freshMs = [];
	const failures = [];
	await Promise.all(
		replaced.map(async (entry) => {
			entry.conn.dispose().catch(() => {});
			const conn = entry.handle.connect();
			const events = [];
			conn.on("count", (count) => events.push(count));
			try {
				await backOn(conn, events, 2, Date.now() + 20_000);
				freshMs.push(Date.now() - restartedAt);
			} catch (err) {
				failures.push(String(err?.message ?? err));
			}
		}),
	);
	selfMs.sort((a, b) => a - b);
	Object.assign(result, {
		selfReconnected: selfMs.length,
		selfMedianMs: selfMs[Math.floor(selfMs.length / 2)] ?? null,
		selfMaxMs: selfMs.at(-1) ?? null,
		replacedByNewConnection: freshMs.length,
		notBackBecause,
		allBackMs: failures.length === 0 ? Math.max(0, ...selfMs, ...freshMs) : null,
		failures,
	});
} catch (err) {
	result.error = String(err?.stack ?? err);
} finally {
	await within(client.dispose(), "dispose", 5000).catch(() => {});
	await server.stop();
}
console.log(JSON.stringify(result));
await sleep(0);
process.exit(0);
