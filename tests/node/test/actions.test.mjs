// Seed doc: "Minimal Client", "Stateless vs Stateful".
import assert from "node:assert/strict";
import { after, afterEach, before, describe, test } from "node:test";
import {
	collector, comboSetup, combos, describeErr, isActorError, rejection, uid, useServer, within,
} from "../lib/harness.mjs";

const srv = useServer({ before, after });

for (const combo of combos()) {
	describe(combo.tag, () => {
		const { opts, client } = comboSetup(combo, { afterEach }, srv);

		test(`[${combo.tag}] minimal client: getOrCreate + increment returns the new count`, opts, async () => {
			const c = client();
			const counter = c.counter.getOrCreate([uid("my-counter")]);
			assert.equal(await within(counter.increment(1), "increment(1)"), 1);
			assert.equal(await within(counter.increment(1), "increment(1)"), 2);
			assert.equal(await within(counter.increment(40), "increment(40)"), 42);
			assert.equal(await within(counter.getCount(), "getCount()"), 42);
		});

		test(`[${combo.tag}] stateless calls are independent and share actor state`, opts, async () => {
			const c = client();
			const key = [uid("my-counter")];
			assert.equal(await within(c.counter.getOrCreate(key).increment(1), "increment via handle A"), 1);
			// A second handle (and a second client) reaches the same actor.
			const c2 = client();
			assert.equal(await within(c2.counter.getOrCreate(key).increment(1), "increment via handle B"), 2);
			assert.equal(await within(c.counter.getOrCreate(key).getCount(), "getCount"), 2);
		});

		test(`[${combo.tag}] stateful: connect, on("count"), conn.increment`, opts, async () => {
			const c = client();
			const handle = c.counter.getOrCreate([uid("my-counter")]);
			await within(handle.increment(1), "stateless increment(1)");
			const conn = handle.connect();
			const counts = collector();
			conn.on("count", counts.push);
			// Action called before the connection is open: queued and sent after Init.
			assert.equal(await within(conn.increment(1), "conn.increment(1)"), 2);
			await counts.wait(1, "count event after conn.increment");
			assert.deepEqual(counts.items, [2]);
			// A stateless call from elsewhere is broadcast to the connection too.
			assert.equal(await within(handle.increment(3), "stateless increment(3)"), 5);
			await counts.wait(2, "count event after stateless increment");
			assert.deepEqual(counts.items, [2, 5]);
			assert.equal(await within(conn.getCount(), "conn.getCount()"), 5);
			await within(conn.dispose(), "conn.dispose()");
		});

		test(`[${combo.tag}] many sequential actions on one connection keep order`, opts, async () => {
			const c = client();
			const conn = c.counter.getOrCreate([uid("seq")]).connect();
			const results = await within(Promise.all(Array.from({ length: 20 }, () => conn.increment(1))), "20 pipelined increments");
			assert.deepEqual([...results].sort((a, b) => a - b), Array.from({ length: 20 }, (_, i) => i + 1));
			assert.equal(await within(conn.getCount(), "getCount"), 20);
			await within(conn.dispose(), "dispose");
		});

		test(`[${combo.tag}] action returning nothing gives null (stateless and connected)`, opts, async () => {
			const c = client();
			const handle = c.chatRoom.getOrCreate([uid("org"), "void"]);
			assert.equal(await within(handle.endGame(), "stateless endGame()"), null);
			const sent = await within(handle.sendMessage("x"), "stateless sendMessage()");
			assert.ok(sent === null || sent === undefined, `sendMessage output: ${JSON.stringify(sent)}`);
			const conn = handle.connect();
			assert.equal(await within(conn.endGame(), "conn.endGame()"), null);
			await within(conn.dispose(), "dispose");
		});

		test(`[${combo.tag}] arguments and outputs round-trip (strings with unicode, numbers)`, opts, async () => {
			const c = client();
			const handle = c.chatRoom.getOrCreate([uid("org"), "unicode"]);
			const texts = ["héllo wörld ✓ 🚀", "", "[\"$x\",1]", "a\u0000b", "x".repeat(5000)];
			for (const t of texts) await within(handle.sendMessage(t), `sendMessage(${t.slice(0, 20)})`);
			assert.deepEqual(await within(handle.getHistory(), "getHistory"), texts);
			const counter = c.counter.getOrCreate([uid("num")]);
			assert.equal(await within(counter.increment(-5), "increment(-5)"), -5);
			assert.equal(await within(counter.increment(1e6), "increment(1e6)"), 999995);
			assert.equal(await within(counter.increment(2 ** 32), "increment(2**32)"), 2 ** 32 + 999995);
		});

		test(`[${combo.tag}] counter follows JS number semantics for non-integer x`, opts, async () => {
			// registry.ts declares increment(c, x: number): a JS number may be fractional.
			const c = client();
			const counter = c.counter.getOrCreate([uid("float")]);
			assert.equal(await within(counter.increment(2.5), "increment(2.5)"), 2.5);
			assert.equal(await within(counter.increment(0.25), "increment(0.25)"), 2.75);
		});

		test(`[${combo.tag}] unknown action rejects with an ActorError (action/not_found)`, opts, async () => {
			const c = client();
			const handle = c.counter.getOrCreate([uid("unknown")]);
			const err = await rejection(handle.noSuchAction(), "noSuchAction()");
			assert.ok(isActorError(combo, err, "not_found", "action"), describeErr(err));
		});
	});
}
