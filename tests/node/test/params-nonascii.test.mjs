// Connection params with non-ASCII text. For stateless calls the official client puts
// `JSON.stringify(params)` raw into the `x-rivet-conn-params` header, which `fetch` sends one
// byte per character (Latin-1: "ë" is the byte 0xEB); over WebSocket the params travel
// percent-encoded. Both must reach the actor, as they do on the official server.
import assert from "node:assert/strict";
import { after, afterEach, before, describe, test } from "node:test";
import { comboSetup, combos, describeErr, rejection, uid, useServer, within } from "../lib/harness.mjs";

const srv = useServer({ before, after });

for (const combo of combos()) {
	describe(combo.tag, () => {
		const { opts, client } = comboSetup(combo, { afterEach }, srv);

		test(`[${combo.tag}] non-ASCII params are accepted (stateless and connected)`, opts, async () => {
			const c = client();
			const key = [uid("general")];
			const chat = c.chatRoom.getOrCreate(key, { params: { authToken: "zoë", note: "ñ ü ß ÿ" } });
			await within(chat.sendMessage("stateless"), "stateless sendMessage with non-ASCII params");
			const conn = chat.connect();
			await within(conn.sendMessage("connected"), "conn.sendMessage with non-ASCII params");
			assert.deepEqual(await within(chat.getHistory(), "getHistory"), ["stateless", "connected"]);
			await within(conn.dispose(), "dispose");
		});

		test(`[${combo.tag}] an empty authToken next to non-ASCII params is still refused`, opts, async () => {
			const c = client();
			const chat = c.chatRoom.getOrCreate([uid("general")], { params: { authToken: "", note: "zoë" } });
			const err = await rejection(chat.sendMessage("nope"), "sendMessage with empty authToken");
			assert.ok(err instanceof combo.mod.ActorError, describeErr(err));
			assert.equal(err.code, "forbidden", describeErr(err));
		});
	});
}
