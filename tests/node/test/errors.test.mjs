// Seed doc: "Error Handling".
import assert from "node:assert/strict";
import { after, afterEach, before, describe, test } from "node:test";
import {
	comboSetup, combos, describeErr, rejection, uid, useServer, within,
} from "../lib/harness.mjs";

const srv = useServer({ before, after });

for (const combo of combos()) {
	describe(combo.tag, () => {
		const { opts, client } = comboSetup(combo, { afterEach }, srv);
		const { ActorError } = combo.mod;

		test(`[${combo.tag}] updateUsername("ab") throws ActorError with code and metadata`, opts, async () => {
			const c = client();
			let caught;
			try {
				await within(c.user.getOrCreate([uid("user-123")]).updateUsername("ab"), 'updateUsername("ab")');
			} catch (error) {
				caught = error;
			}
			assert.ok(caught instanceof ActorError, `not an ActorError: ${describeErr(caught)}`);
			assert.equal(caught.code, "username_too_short");
			assert.deepEqual(caught.metadata, { minLength: 3 });
			assert.equal(caught.group, "user");
			assert.equal(typeof caught.message, "string");
		});

		test(`[${combo.tag}] user error leaves state untouched; valid name is stored`, opts, async () => {
			const c = client();
			const u = c.user.getOrCreate([uid("user")]);
			assert.equal(await within(u.updateUsername("alice"), 'updateUsername("alice")'), "alice");
			await rejection(u.updateUsername(""), 'updateUsername("")');
			await rejection(u.updateUsername("xy"), 'updateUsername("xy")');
			assert.equal(await within(u.getUsername(), "getUsername"), "alice");
			assert.equal(await within(u.updateUsername("bob"), 'updateUsername("bob")'), "bob");
			assert.equal(await within(u.getUsername(), "getUsername"), "bob");
		});

		test(`[${combo.tag}] user error over a connection: ActorError, connection stays usable`, opts, async () => {
			const c = client();
			const conn = c.user.getOrCreate([uid("user")]).connect();
			const errors = [];
			conn.onError((e) => errors.push(e));
			// First action (id 0) succeeds, so the error below carries a non-zero action id
			// (clients treat an error for action id 0 as connection-level, spec/PROTOCOL.md §7.3).
			await within(conn.updateUsername("carol"), "conn.updateUsername(carol)");
			const err = await rejection(conn.updateUsername("ab"), 'conn.updateUsername("ab")');
			assert.ok(err instanceof ActorError, describeErr(err));
			assert.equal(err.code, "username_too_short");
			assert.deepEqual(err.metadata, { minLength: 3 });
			assert.equal(err.group, "user");
			assert.equal(await within(conn.getUsername(), "conn.getUsername"), "carol");
			assert.equal(conn.isConnected, true);
			assert.deepEqual(errors, [], "an action error is not a connection error");
			await within(conn.dispose(), "dispose");
		});

		test(`[${combo.tag}] user error as the very first action of a connection still rejects that action`, opts, async () => {
			const c = client();
			const conn = c.user.getOrCreate([uid("user")]).connect();
			const err = await rejection(conn.updateUsername("ab"), 'first conn.updateUsername("ab")');
			assert.equal(err.code, "username_too_short", describeErr(err));
			assert.deepEqual(err.metadata, { minLength: 3 });
			assert.equal(await within(conn.updateUsername("dave"), "later action"), "dave");
			await within(conn.dispose(), "dispose");
		});

		test(`[${combo.tag}] getUsername of a fresh user is null`, opts, async () => {
			const c = client();
			assert.equal(await within(c.user.getOrCreate([uid("fresh")]).getUsername(), "getUsername"), null);
		});
	});
}
