// Seed doc: "Getting Actors", "Keys" (compound keys).
import assert from "node:assert/strict";
import { after, afterEach, before, describe, test } from "node:test";
import {
	comboSetup, combos, describeErr, isActorError, isErrorWithCode, rejection, uid, useServer, within,
} from "../lib/harness.mjs";

const srv = useServer({ before, after });

// Compound keys whose parts need escaping in the serialized key (spec/PROTOCOL.md §3.6).
const TRICKY_KEYS = [
	["org-acme", "general"],
	["a/b", "c/d"],
	["a\\b", "c\\\\d"],
	["", "room"],
	["org", ""],
	["", ""],
	["\\0", "/"],
	["\\", "\\/"],
	["/", "//"],
	["a\\/b", "x\\0y"],
	["spaces and %20 ?&=#", "ünïcödé ✓"],
];

for (const combo of combos()) {
	describe(combo.tag, () => {
		const { opts, client } = comboSetup(combo, { afterEach }, srv);

		test(`[${combo.tag}] getOrCreate then get reach the same actor`, opts, async () => {
			const c = client();
			const key = [uid("room-42")];
			const room = c.chatRoom.getOrCreate(key);
			await within(room.sendMessage("hello"), "room.sendMessage");
			const existing = c.chatRoom.get(key);
			assert.deepEqual(await within(existing.getHistory(), "existing.getHistory"), ["hello"]);
			assert.equal(await within(existing.resolve(), "existing.resolve"), await within(room.resolve(), "room.resolve"));
		});

		test(`[${combo.tag}] getOrCreate is idempotent (same id, state kept)`, opts, async () => {
			const c = client();
			const key = [uid("room")];
			const id1 = await within(c.chatRoom.getOrCreate(key).resolve(), "resolve #1");
			await within(c.chatRoom.getOrCreate(key).sendMessage("one"), "sendMessage");
			const id2 = await within(c.chatRoom.getOrCreate(key).resolve(), "resolve #2");
			assert.equal(id1, id2);
			assert.deepEqual(await within(c.chatRoom.getOrCreate(key).getHistory(), "getHistory"), ["one"]);
		});

		test(`[${combo.tag}] create with input; getOrCreate without input defaults to casual`, opts, async () => {
			const c = client();
			const key = [uid("game-1")];
			const created = await within(c.game.create(key, { input: { mode: "ranked" } }), "game.create");
			assert.equal(await within(created.getMode(), "created.getMode"), "ranked");
			// Later handles see the same actor; input is ignored for an existing actor.
			assert.equal(await within(c.game.getOrCreate(key).getMode(), "getOrCreate(existing).getMode"), "ranked");
			assert.equal(await within(c.game.get(key).getMode(), "get.getMode"), "ranked");
			assert.equal(await within(c.game.getOrCreate([uid("game-2")]).getMode(), "getOrCreate(new).getMode"), "casual");
			assert.equal(
				await within(c.game.getOrCreate([uid("game-3")], { createWithInput: { mode: "duel" } }).getMode(), "createWithInput"),
				"duel",
			);
		});

		test(`[${combo.tag}] create with a taken key rejects (actor/duplicate_key)`, opts, async () => {
			const c = client();
			const key = [uid("dup")];
			await within(c.game.create(key, { input: { mode: "a" } }), "first create");
			const err = await rejection(c.game.create(key, { input: { mode: "b" } }), "second create");
			assert.ok(isActorError(combo, err, "duplicate_key"), describeErr(err));
			assert.equal(await within(c.game.get(key).getMode(), "getMode"), "a");
		});

		test(`[${combo.tag}] resolve() returns the id; getForId reaches the actor`, opts, async () => {
			const c = client();
			const room = c.chatRoom.getOrCreate([uid("room")]);
			await within(room.sendMessage("by-id"), "sendMessage");
			const resolvedId = await within(room.resolve(), "room.resolve");
			assert.equal(typeof resolvedId, "string");
			assert.ok(resolvedId.length > 0);
			const byId = c.chatRoom.getForId(resolvedId);
			assert.deepEqual(await within(byId.getHistory(), "byId.getHistory"), ["by-id"]);
			assert.equal(await within(byId.resolve(), "byId.resolve"), resolvedId);
			// The handle returned by create() is id-based as well.
			const created = await within(c.game.create([uid("g")], { input: { mode: "x" } }), "create");
			const createdId = await within(created.resolve(), "created.resolve");
			assert.equal(await within(c.game.getForId(createdId).getMode(), "getForId(created).getMode"), "x");
			// A connection reports the same actor id.
			const conn = byId.connect();
			assert.deepEqual(await within(conn.getHistory(), "conn.getHistory"), ["by-id"]);
			assert.equal(conn.actorId, resolvedId);
			await within(conn.dispose(), "dispose");
		});

		test(`[${combo.tag}] get of a missing actor rejects with actor/not_found`, opts, async () => {
			const c = client();
			const missing = c.chatRoom.get([uid("never-created")]);
			const err = await rejection(missing.getHistory(), "get(missing).getHistory");
			assert.ok(isErrorWithCode(err, "not_found", "actor"), describeErr(err));
			const err2 = await rejection(missing.resolve(), "get(missing).resolve");
			assert.ok(isErrorWithCode(err2, "not_found", "actor"), describeErr(err2));
		});

		test(`[${combo.tag}] getForId of an unknown id or of another actor type rejects with actor/not_found`, opts, async () => {
			const c = client();
			const err = await rejection(c.chatRoom.getForId("actor-id").getHistory(), "getForId(unknown)");
			assert.ok(isErrorWithCode(err, "not_found", "actor"), describeErr(err));
			const counterId = await within(c.counter.getOrCreate([uid("c")]).resolve(), "counter.resolve");
			const err2 = await rejection(c.chatRoom.getForId(counterId).getHistory(), "chatRoom.getForId(counter id)");
			if (combo.getForIdChecksName) {
				assert.ok(isErrorWithCode(err2, "not_found", "actor"), describeErr(err2));
			} else {
				// The call goes to the id, and the counter has no getHistory.
				assert.ok(isErrorWithCode(err2, "not_found", "action"), describeErr(err2));
			}
		});

		test(`[${combo.tag}] same key under different actor names are different actors`, opts, async () => {
			const c = client();
			const key = [uid("shared")];
			const a = await within(c.counter.getOrCreate(key).resolve(), "counter.resolve");
			const b = await within(c.chatRoom.getOrCreate(key).resolve(), "chatRoom.resolve");
			assert.notEqual(a, b);
		});

		test(`[${combo.tag}] compound keys: getRoomInfo returns the parts exactly`, opts, async () => {
			const c = client();
			const salt = uid("s");
			for (const [org, room] of TRICKY_KEYS) {
				const key = [org, `${room}${salt}`];
				const h = c.chatRoom.getOrCreate(key);
				assert.deepEqual(await within(h.getRoomInfo(), `getRoomInfo ${JSON.stringify(key)}`), { org, room: key[1] });
				// get() with the same compound key finds it (key serialized in the query string).
				assert.deepEqual(await within(c.chatRoom.get(key).getRoomInfo(), `get ${JSON.stringify(key)}`), { org, room: key[1] });
			}
			// Exactly-empty parts (no salt): ["", ""] and ["x", ""].
			for (const key of [["", ""], [salt, ""]]) {
				const info = await within(c.chatRoom.getOrCreate(key).getRoomInfo(), `getRoomInfo ${JSON.stringify(key)}`);
				assert.deepEqual(info, { org: key[0], room: key[1] });
			}
		});

		test(`[${combo.tag}] compound keys are not confused by separators inside parts`, opts, async () => {
			const c = client();
			const s = uid("s");
			const groups = [
				[[`a/b${s}`, "c"], [`a${s}`, "b/c"], [`a${s}`, "b", "c"], [`a/b/c${s}`]],
				[[`x\\${s}`, "y"], [`x\\/${s}`, "y"], [`x${s}`, "\\y"]],
				[["", `e${s}`], [`e${s}`], [`\\0`, `e${s}`]],
			];
			for (const group of groups) {
				const ids = [];
				for (const key of group) ids.push(await within(c.chatRoom.getOrCreate(key).resolve(), `resolve ${JSON.stringify(key)}`));
				assert.equal(new Set(ids).size, ids.length, `keys ${JSON.stringify(group)} map to ids ${JSON.stringify(ids)}`);
				// Each resolves back to itself through get().
				for (let i = 0; i < group.length; i++) {
					assert.equal(await within(c.chatRoom.get(group[i]).resolve(), `get ${JSON.stringify(group[i])}`), ids[i]);
				}
			}
		});

		test(`[${combo.tag}] string key and empty key`, opts, async () => {
			const c = client();
			const k = uid("plain");
			const a = await within(c.counter.getOrCreate(k).increment(2), "getOrCreate(string).increment");
			assert.equal(a, 2);
			assert.equal(await within(c.counter.getOrCreate([k]).getCount(), "getOrCreate([string]).getCount"), 2);
			// The empty key (and no key) address one actor per name.
			const e1 = await within(c.user.getOrCreate([]).resolve(), "getOrCreate([])");
			const e2 = await within(c.user.getOrCreate().resolve(), "getOrCreate()");
			assert.equal(e1, e2);
		});
	});
}
