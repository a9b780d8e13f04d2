// Graceful restart: on SIGHUP the server lets actions in flight finish, closes WebSockets with
// 1001 and re-executes itself (same pid) on the same listening socket, refusing no connection
// meanwhile; nothing acknowledged is lost and connected clients of every version, in every
// encoding, come back by themselves.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { TEST_TIMEOUT_MS, collector, combos, disposeAll, makeClient, uid, until, useServer, within } from "../lib/harness.mjs";

const srv = useServer({ before, after });
const ALL = combos();
/** Long enough that the action is still running when SIGHUP arrives. */
const SLOW_DELAY_MS = 1500;

// Per combo: the live connection and what was acknowledged on it before the restart.
const live = new Map();
const clients = [];
after(() => disposeAll(clients));

describe("before SIGHUP", () => {
	for (const combo of ALL) {
		test(`[${combo.tag}] connect, write, start a slow action`, { timeout: TEST_TIMEOUT_MS }, async () => {
			const c = makeClient(combo, { endpoint: srv.server.endpoint }, clients);
			const key = [uid("graceful")];
			const conn = c.counter.getOrCreate(key).connect();
			const rec = { key, conn, opens: collector(), closes: collector(), counts: collector(), started: collector() };
			conn.onOpen(() => rec.opens.push(1));
			conn.onClose(() => rec.closes.push(1));
			conn.on("count", rec.counts.push);
			conn.on("slowIncrementStarted", rec.started.push);
			assert.equal(await within(conn.increment(1), "increment"), 1);
			await rec.opens.wait(1, "first open");
			// Not awaited: in flight when the server is told to stop.
			rec.slow = conn.incrementSlowly(10, SLOW_DELAY_MS);
			rec.slow.catch(() => {});
			await rec.started.wait(1, "the slow action started");
			live.set(combo.tag, rec);
		});
	}
});

describe("SIGHUP", () => {
	test("the server finishes the actions in flight and restarts in place", { timeout: TEST_TIMEOUT_MS }, async () => {
		const pid = srv.server.proc.pid;
		const reloaded = srv.server.reload();
		for (const [tag, rec] of live) {
			assert.equal(await within(rec.slow, `[${tag}] the action in flight`), 11, tag);
		}
		await reloaded;
		assert.equal(srv.server.proc.pid, pid);
		assert.equal(srv.server.proc.exitCode, null);
	});
});

describe("after the restart", () => {
	for (const combo of ALL) {
		test(`[${combo.tag}] the connection comes back by itself; nothing is lost`, { timeout: TEST_TIMEOUT_MS }, async () => {
			const rec = live.get(combo.tag);
			assert.ok(rec, "the first phase of this combo failed");
			await rec.closes.wait(1, "onClose after the 1001 close");
			await rec.opens.wait(2, "onOpen after the restart");
			await until(() => rec.conn.isConnected, "isConnected after the restart");
			assert.equal(await within(rec.conn.increment(1), "increment after the restart"), 12);
			await until(() => rec.counts.items.includes(12), "count event after the restart (re-subscribed)");
			const fresh = makeClient(combo, { endpoint: srv.server.endpoint }, clients);
			assert.equal(await within(fresh.counter.get(rec.key).getCount(), "getCount"), 12);
		});
	}
});
