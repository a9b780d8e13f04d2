// Seed doc: "Stateless vs Stateful", "Connection Parameters", "Subscribing to Events",
// "Connection Lifecycle".
import assert from "node:assert/strict";
import { after, afterEach, before, describe, test } from "node:test";
import {
	TEST_TIMEOUT_MS, collector, comboSetup, combos, describeErr, isActorError, rejection, sleep, uid, until, useServer,
	within,
} from "../lib/harness.mjs";

const srv = useServer({ before, after });

for (const combo of combos()) {
	describe(combo.tag, () => {
		const { opts, client } = comboSetup(combo, { afterEach }, srv);

		test(`[${combo.tag}] on("message") receives every broadcast in order`, opts, async () => {
			const c = client();
			const handle = c.chatRoom.getOrCreate([uid("general")]);
			const conn = handle.connect();
			const msgs = collector();
			conn.on("message", msgs.push);
			await within(conn.sendMessage("one"), "conn.sendMessage(one)");
			await within(handle.sendMessage("two"), "stateless sendMessage(two)");
			await within(conn.sendMessage("three"), "conn.sendMessage(three)");
			await msgs.wait(3, "three message events");
			assert.deepEqual(msgs.items, ["one", "two", "three"]);
			assert.deepEqual(await within(conn.getHistory(), "getHistory"), ["one", "two", "three"]);
			await within(conn.dispose(), "dispose");
		});

		test(`[${combo.tag}] once("gameOver") fires exactly once; on() keeps firing`, opts, async () => {
			const c = client();
			const conn = c.chatRoom.getOrCreate([uid("general")]).connect();
			let onceCalls = 0;
			const onceArgs = [];
			conn.once("gameOver", (...args) => {
				onceCalls += 1;
				onceArgs.push(args);
			});
			const all = collector();
			conn.on("gameOver", all.push);
			const msgs = collector();
			conn.on("message", msgs.push);
			await within(conn.endGame(), "endGame #1");
			await all.wait(1, "first gameOver");
			await within(conn.endGame(), "endGame #2");
			await all.wait(2, "second gameOver");
			// A later marker proves nothing else is still in flight.
			await within(conn.sendMessage("marker"), "sendMessage(marker)");
			await msgs.wait(1, "marker");
			assert.equal(onceCalls, 1);
			assert.deepEqual(onceArgs, [[]], "gameOver carries no payload");
			assert.equal(all.items.length, 2);
			await within(conn.dispose(), "dispose");
		});

		test(`[${combo.tag}] an action's broadcast reaches the caller before the action's response`, opts, async () => {
			// The official server broadcasts while the action runs, so on the caller's own
			// connection the event frame precedes the ActionResponse frame: when
			// `await conn.increment()` resumes, the listener has already seen the new count.
			const c = client();
			const conn = c.counter.getOrCreate([uid("order")]).connect();
			const counts = collector();
			conn.on("count", counts.push);
			const seenAtResponse = [];
			for (let i = 1; i <= 10; i++) {
				const value = await within(conn.increment(1), `increment #${i}`);
				seenAtResponse.push([value, counts.items.at(-1)]);
			}
			await counts.wait(10, "all ten count events");
			assert.deepEqual(counts.items, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
			const late = seenAtResponse.filter(([v, seen]) => v !== seen);
			assert.deepEqual(late, [], `[response, last event seen when the response resolved]: ${JSON.stringify(seenAtResponse)}`);
			await within(conn.dispose(), "dispose");
		});

		test(`[${combo.tag}] unsubscribing stops delivery; other listeners continue`, opts, async () => {
			const c = client();
			const conn = c.chatRoom.getOrCreate([uid("general")]).connect();
			const a = collector();
			const b = collector();
			const offA = conn.on("message", a.push);
			conn.on("message", b.push);
			await within(conn.sendMessage("m1"), "m1");
			await a.wait(1, "a gets m1");
			await b.wait(1, "b gets m1");
			offA();
			await within(conn.sendMessage("m2"), "m2");
			await b.wait(2, "b gets m2");
			assert.deepEqual(a.items, ["m1"]);
			assert.deepEqual(b.items, ["m1", "m2"]);
			await within(conn.dispose(), "dispose");
		});

		test(`[${combo.tag}] broadcast reaches every connection of the actor`, opts, async () => {
			const c = client();
			const key = [uid("general")];
			const conns = [c.chatRoom.getOrCreate(key).connect(), client().chatRoom.getOrCreate(key).connect()];
			const cols = conns.map((conn) => {
				const col = collector();
				conn.on("message", col.push);
				return col;
			});
			// Make sure both are connected (and subscribed) before broadcasting.
			for (const conn of conns) await within(conn.getHistory(), "getHistory to settle connection");
			await within(conns[0].sendMessage("hi all"), "sendMessage");
			for (const col of cols) await col.wait(1, "broadcast on each connection");
			for (const col of cols) assert.deepEqual(col.items, ["hi all"]);
			await within(Promise.all(conns.map((x) => x.dispose())), "dispose");
		});

		test(`[${combo.tag}] lifecycle: onOpen, onStatusChange, isConnected, dispose -> onClose`, opts, async () => {
			const c = client();
			const conn = c.chatRoom.getOrCreate([uid("general")]).connect();
			const opens = collector();
			const closes = collector();
			const errors = collector();
			const statuses = collector();
			conn.onOpen(() => opens.push("open"));
			conn.onClose(() => closes.push("close"));
			conn.onError((err) => errors.push(err));
			conn.onStatusChange((s) => statuses.push(s));
			await opens.wait(1, "onOpen");
			assert.equal(conn.isConnected, true);
			assert.equal(conn.connStatus, "connected");
			assert.ok(statuses.items.includes("connected"), `statuses ${JSON.stringify(statuses.items)}`);
			assert.equal(typeof conn.actorId, "string");
			assert.equal(typeof conn.connectionId, "string");
			assert.ok(conn.connectionId.length > 0);
			assert.deepEqual(await within(conn.getHistory(), "getHistory"), []);
			await within(conn.dispose(), "conn.dispose()");
			await closes.wait(1, "onClose after dispose");
			assert.equal(conn.isConnected, false);
			assert.notEqual(statuses.items.at(-1), "connected", `statuses ${JSON.stringify(statuses.items)}`);
			assert.equal(opens.items.length, 1);
			assert.deepEqual(errors.items, [], `unexpected onError: ${errors.items.map(describeErr).join("; ")}`);
			// A disposed connection refuses further actions.
			await rejection(conn.getHistory(), "action on disposed connection");
		});

		test(`[${combo.tag}] each connect() gets its own connection id`, opts, async () => {
			const c = client();
			const handle = c.chatRoom.getOrCreate([uid("general")]);
			const a = handle.connect();
			const b = handle.connect();
			await within(Promise.all([a.getHistory(), b.getHistory()]), "both connected");
			assert.equal(a.actorId, b.actorId);
			assert.notEqual(a.connectionId, b.connectionId);
			await within(Promise.all([a.dispose(), b.dispose()]), "dispose");
		});

		test(`[${combo.tag}] params with a token are accepted (stateless and connected)`, opts, async () => {
			const c = client();
			const chat = c.chatRoom.getOrCreate([uid("general")], { params: { authToken: "jwt-token-here" } });
			await within(chat.sendMessage("with-params"), "stateless sendMessage with params");
			const conn = chat.connect();
			const opened = collector();
			conn.onOpen(() => opened.push(1));
			const msgs = collector();
			conn.on("message", msgs.push);
			assert.deepEqual(await within(conn.getHistory(), "conn.getHistory"), ["with-params"]);
			await opened.wait(1, "onOpen with params");
			await within(conn.sendMessage("again"), "conn.sendMessage");
			await msgs.wait(1, "event with params");
			await within(conn.dispose(), "dispose");
		});

		test(`[${combo.tag}] params with unusual JSON are accepted`, opts, async () => {
			const c = client();
			const chat = c.chatRoom.getOrCreate([uid("general")], {
				// ASCII only: the client puts the JSON raw into an HTTP header for stateless calls.
				params: { authToken: "tok/with spaces,commas;and=eq%20 \"q\" ~!*'", extra: [1, { a: null }] },
			});
			await within(chat.sendMessage("p"), "stateless with odd params");
			const conn = chat.connect();
			assert.deepEqual(await within(conn.getHistory(), "conn.getHistory with odd params"), ["p"]);
			await within(conn.dispose(), "dispose");
		});

		test(`[${combo.tag}] empty authToken: stateless call rejects with ActorError forbidden`, opts, async () => {
			const c = client();
			const key = [uid("general")];
			const chat = c.chatRoom.getOrCreate(key, { params: { authToken: "" } });
			const err = await rejection(chat.getHistory(), "getHistory with empty authToken");
			assert.ok(err instanceof combo.mod.ActorError, describeErr(err));
			assert.equal(err.code, "forbidden", describeErr(err));
			// Nothing was appended by a rejected call.
			const err2 = await rejection(chat.sendMessage("nope"), "sendMessage with empty authToken");
			assert.equal(err2.code, "forbidden", describeErr(err2));
			assert.deepEqual(await within(c.chatRoom.getOrCreate(key).getHistory(), "history without params"), []);
		});

		test(`[${combo.tag}] empty authToken: connection is rejected and never connects`, opts, async () => {
			const c = client();
			const key = [uid("general")];
			const conn = c.chatRoom.getOrCreate(key, { params: { authToken: "" } }).connect();
			const opens = collector();
			const errors = collector();
			const statuses = collector();
			conn.onOpen(() => opens.push(1));
			conn.onError((e) => errors.push(e));
			conn.onStatusChange((s) => statuses.push(s));
			const pending = rejection(conn.sendMessage("should not land"), "queued action on rejected connection");
			const err = await pending;
			if (combo.parsesCloseReason) {
				// 2.1.x parses the close reason "{group}.forbidden" into an ActorError.
				assert.ok(isActorError(combo, err, "forbidden"), describeErr(err));
				await errors.wait(1, "onError on rejected connection");
				assert.ok(isActorError(combo, errors.items[0], "forbidden"), describeErr(errors.items[0]));
			} else {
				// 2.0.33 does not parse close reasons: the queued action fails with a plain
				// "Connection closed (code: 1011, reason: ...forbidden)" error.
				assert.ok(err instanceof Error, describeErr(err));
				assert.match(err.message, /1011/);
				assert.match(err.message, /forbidden/);
			}
			await sleep(500);
			assert.equal(opens.items.length, 0, "onOpen must not fire");
			assert.ok(!statuses.items.includes("connected"), `statuses ${JSON.stringify(statuses.items)}`);
			assert.equal(conn.isConnected, false);
			await within(conn.dispose(), "dispose rejected connection");
			// The message was not appended.
			assert.deepEqual(await within(c.chatRoom.getOrCreate(key).getHistory(), "history"), []);
		});
	});
}

test("/connect WebSocket: server completes the close handshake when the client disposes", { timeout: TEST_TIMEOUT_MS }, async () => {
	// What `conn.dispose()` does on the wire (close 1000 "Disposed"), with node's WebSocket so
	// the close event is observable. The official server echoes the close frame.
	const { ENCODINGS, VERSIONS } = await import("../lib/harness.mjs");
	const c = VERSIONS[0].mod.createClient({ endpoint: srv.server.endpoint, encoding: ENCODINGS[0] });
	try {
		const id = await within(c.counter.getOrCreate([uid("close")]).resolve(), "resolve");
		const ws = new WebSocket(`${srv.server.endpoint.replace("http", "ws")}/gateway/${id}/connect`, ["rivet", "rivet_encoding.json"]);
		const first = new Promise((resolve, reject) => {
			ws.addEventListener("message", (e) => resolve(e.data), { once: true });
			ws.addEventListener("error", () => reject(new Error("websocket error")), { once: true });
		});
		const init = JSON.parse(await within(first, "Init frame"));
		assert.equal(init.body.tag, "Init");
		assert.equal(ws.protocol, "rivet");
		const closed = new Promise((r) => ws.addEventListener("close", (e) => r({ code: e.code, reason: e.reason, wasClean: e.wasClean }), { once: true }));
		ws.close(1000, "Disposed");
		assert.deepEqual(await within(closed, "close event"), { code: 1000, reason: "Disposed", wasClean: true });
	} finally {
		await c.dispose();
	}
});
