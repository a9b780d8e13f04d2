// Seed doc: "Low-Level HTTP & WebSocket".
import assert from "node:assert/strict";
import { after, afterEach, before, describe, test } from "node:test";
import {
	collector, comboSetup, combos, frameText, openRawWebSocket, uid, useServer, within,
} from "../lib/harness.mjs";

const srv = useServer({ before, after });

function recorder(ws) {
	const col = collector();
	const types = [];
	ws.addEventListener("message", (event) => {
		types.push(typeof event.data === "string" ? "text" : "binary");
		col.push(frameText(event.data));
	});
	return { ...col, types };
}

function closeWs(ws) {
	if (ws.readyState === 3) return Promise.resolve();
	const closed = new Promise((r) => ws.addEventListener("close", () => r(), { once: true }));
	ws.close();
	return within(closed, "raw websocket close", 5000).catch(() => {});
}

for (const combo of combos()) {
	describe(combo.tag, () => {
		const { opts, client } = comboSetup(combo, { afterEach }, srv);

		test(`[${combo.tag}] raw WebSocket method name is ${combo.rawWs}()`, opts, async () => {
			// 2.0.x names it websocket(), 2.1.x webSocket() (spec/PROTOCOL.md §1.2). Handles are
			// proxies (any other property is an action), so look at the class.
			assert.equal(typeof combo.mod.ActorHandleRaw.prototype[combo.rawWs], "function");
			// The other spelling does not exist on this version: on 2.1.x `handle.websocket(...)`
			// (as written in the seed doc) is a call of an action named "websocket".
			const other = combo.rawWs === "webSocket" ? "websocket" : "webSocket";
			assert.equal(typeof combo.mod.ActorHandleRaw.prototype[other], "undefined");
			assert.equal(typeof combo.mod.ActorHandleRaw.prototype.fetch, "function");
		});

		test(`[${combo.tag}] fetch("history") returns the messages as JSON`, opts, async () => {
			const c = client();
			const handle = c.chatRoom.getOrCreate([uid("general")]);
			let response = await within(handle.fetch("history"), 'fetch("history") on empty room');
			assert.equal(response.status, 200);
			assert.deepEqual(await within(response.json(), "json()"), []);
			await within(handle.sendMessage("a"), "sendMessage a");
			await within(handle.sendMessage("b \"quoted\" ✓"), "sendMessage b");
			response = await within(handle.fetch("history"), 'fetch("history")');
			assert.equal(response.status, 200);
			const history = await within(response.json(), "json()");
			assert.deepEqual(history, ["a", "b \"quoted\" ✓"]);
			// Leading slash and an explicit GET init are equivalent.
			response = await within(handle.fetch("/history", { method: "GET" }), 'fetch("/history")');
			assert.equal(response.status, 200);
			assert.deepEqual(await within(response.json(), "json()"), history);
		});

		test(`[${combo.tag}] fetch with connection params`, opts, async () => {
			const c = client();
			const key = [uid("general")];
			await within(c.chatRoom.getOrCreate(key).sendMessage("p"), "sendMessage");
			const ok = c.chatRoom.getOrCreate(key, { params: { authToken: "jwt-token-here" } });
			const response = await within(ok.fetch("history"), "fetch with params");
			assert.equal(response.status, 200);
			assert.deepEqual(await response.json(), ["p"]);
			const bad = c.chatRoom.getOrCreate(key, { params: { authToken: "" } });
			const denied = await within(bad.fetch("history"), "fetch with empty authToken");
			assert.ok(denied.status >= 400, `status ${denied.status}`);
			const body = await denied.text();
			assert.match(body, /forbidden/, `body ${body}`);
		});

		test(`[${combo.tag}] ${combo.rawWs}("stream"): text frame is echoed and appended`, opts, async () => {
			const c = client();
			const handle = c.chatRoom.getOrCreate([uid("general")]);
			const ws = await openRawWebSocket(combo, handle, "stream");
			try {
				const rec = recorder(ws);
				ws.send("hello");
				await rec.wait(1, "echo of hello");
				assert.deepEqual(rec.items, ["hello"]);
				assert.deepEqual(rec.types, ["text"]);
				assert.deepEqual(await within(handle.getHistory(), "getHistory"), ["hello"]);
				ws.send("world ✓");
				await rec.wait(2, "echo of world");
				assert.deepEqual(rec.items, ["hello", "world ✓"]);
			} finally {
				await closeWs(ws);
			}
		});

		test(`[${combo.tag}] ${combo.rawWs}("stream"): frames and actions are broadcast to every socket and connection`, opts, async () => {
			const c = client();
			const key = [uid("general")];
			const handle = c.chatRoom.getOrCreate(key);
			const wsA = await openRawWebSocket(combo, handle, "stream");
			const wsB = await openRawWebSocket(combo, client().chatRoom.getOrCreate(key), "/stream");
			const conn = handle.connect();
			const events = collector();
			conn.on("message", events.push);
			try {
				await within(conn.getHistory(), "connection ready");
				const a = recorder(wsA);
				const b = recorder(wsB);
				wsA.send("from-a");
				await a.wait(1, "A gets its own frame");
				await b.wait(1, "B gets A's frame");
				await events.wait(1, "connection gets message event for A's frame");
				wsB.send("from-b");
				await a.wait(2, "A gets B's frame");
				await b.wait(2, "B gets its own frame");
				await within(handle.sendMessage("from-action"), "stateless sendMessage");
				await a.wait(3, "A gets action message");
				await b.wait(3, "B gets action message");
				await events.wait(3, "three message events");
				assert.deepEqual(a.items, ["from-a", "from-b", "from-action"]);
				assert.deepEqual(b.items, ["from-a", "from-b", "from-action"]);
				assert.deepEqual(events.items, ["from-a", "from-b", "from-action"]);
				assert.deepEqual(await within(handle.getHistory(), "getHistory"), ["from-a", "from-b", "from-action"]);
				const res = await within(handle.fetch("history"), "fetch history");
				assert.deepEqual(await res.json(), ["from-a", "from-b", "from-action"]);
			} finally {
				await closeWs(wsA);
				await closeWs(wsB);
				await within(conn.dispose(), "dispose");
			}
		});

		test(`[${combo.tag}] closing a raw WebSocket completes the close handshake`, opts, async () => {
			const c = client();
			const ws = await openRawWebSocket(combo, c.chatRoom.getOrCreate([uid("general")]), "stream");
			const closed = new Promise((r) => ws.addEventListener("close", (e) => r({ code: e.code, reason: e.reason, wasClean: e.wasClean }), { once: true }));
			ws.close(1000, "bye");
			const ev = await within(closed, "close event");
			// A server that drops TCP without echoing the close frame yields 1006 / wasClean=false.
			assert.deepEqual(ev, { code: 1000, reason: "bye", wasClean: true });
		});

		test(`[${combo.tag}] a closed stream socket stops receiving; others keep going`, opts, async () => {
			const c = client();
			const handle = c.chatRoom.getOrCreate([uid("general")]);
			const wsA = await openRawWebSocket(combo, handle, "stream");
			const wsB = await openRawWebSocket(combo, handle, "stream");
			try {
				const b = recorder(wsB);
				await closeWs(wsA);
				await within(handle.sendMessage("after-close"), "sendMessage after A closed");
				await b.wait(1, "B still receives");
				assert.deepEqual(b.items, ["after-close"]);
			} finally {
				await closeWs(wsB);
			}
		});
	});
}
