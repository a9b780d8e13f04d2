// Seed doc: "Environment Variables", "Endpoint Format" (URL auth syntax), and a server
// started with --token.
import assert from "node:assert/strict";
import { after, afterEach, before, describe, test } from "node:test";
import {
	SeedServer, TEST_TIMEOUT_MS, collector, comboSetup, combos, describeErr, frameText, makeClient, openRawWebSocket,
	portIsFree, rejection, sleep, uid, useServer, within,
} from "../lib/harness.mjs";

const TOKEN = "s3cret-T0ken";
const open = useServer({ before, after });
const locked = useServer({ before, after }, { token: TOKEN });

const ENV_KEYS = ["RIVET_ENDPOINT", "RIVET_TOKEN", "RIVET_NAMESPACE", "RIVET_ENGINE", "RIVET_RUNNER"];
async function withEnv(vars, fn) {
	const saved = Object.fromEntries(ENV_KEYS.map((k) => [k, process.env[k]]));
	for (const k of ENV_KEYS) delete process.env[k];
	Object.assign(process.env, vars);
	try {
		return await fn();
	} finally {
		for (const k of ENV_KEYS) {
			if (saved[k] === undefined) delete process.env[k];
			else process.env[k] = saved[k];
		}
	}
}

const AUTH_CODES = ["unauthorized", "forbidden"];
const isAuthError = (err) => err instanceof Error && AUTH_CODES.includes(err.code);

/** Exercises stateless action, connection + event, raw fetch, raw WebSocket. */
async function exerciseEverything(combo, c, label) {
	const key = [uid(label)];
	const handle = c.chatRoom.getOrCreate(key);
	await within(handle.sendMessage("m1"), `${label}: stateless sendMessage`);
	const conn = handle.connect();
	const msgs = collector();
	conn.on("message", msgs.push);
	assert.deepEqual(await within(conn.getHistory(), `${label}: conn.getHistory`), ["m1"]);
	await within(conn.sendMessage("m2"), `${label}: conn.sendMessage`);
	await msgs.wait(1, `${label}: message event`);
	const res = await within(handle.fetch("history"), `${label}: fetch history`);
	assert.equal(res.status, 200, `${label}: fetch status`);
	assert.deepEqual(await res.json(), ["m1", "m2"]);
	const ws = await openRawWebSocket(combo, handle, "stream");
	const frames = collector();
	ws.addEventListener("message", (e) => frames.push(frameText(e.data)));
	ws.send("m3");
	await frames.wait(1, `${label}: raw websocket echo`);
	assert.deepEqual(frames.items, ["m3"]);
	ws.close();
	assert.equal(await within(c.counter.getOrCreate(key).increment(2), `${label}: counter`), 2);
	const id = await within(handle.resolve(), `${label}: resolve`);
	assert.deepEqual(await within(c.chatRoom.getForId(id).getHistory(), `${label}: getForId`), ["m1", "m2", "m3"]);
	await within(conn.dispose(), `${label}: dispose`);
}

// ------------------------------------------------------------ raw HTTP checks of --token

test("token server: /health is open; manager and gateway requests need the token", { timeout: TEST_TIMEOUT_MS }, async () => {
	const base = locked.server.endpoint;
	const health = await fetch(`${base}/health`);
	assert.equal(health.status, 200);

	const none = await fetch(`${base}/actors?name=counter&key=x&namespace=default`);
	assert.ok([401, 403].includes(none.status), `no token: status ${none.status}`);
	const noneBody = await none.json();
	assert.ok(AUTH_CODES.includes(noneBody.code), `no token body ${JSON.stringify(noneBody)}`);
	assert.equal(typeof noneBody.group, "string");
	assert.equal(typeof noneBody.message, "string");

	const wrong = await fetch(`${base}/actors?name=counter&key=x&namespace=default`, {
		headers: { authorization: "Bearer wrong" },
	});
	assert.ok([401, 403].includes(wrong.status), `wrong token: status ${wrong.status}`);
	assert.ok(AUTH_CODES.includes((await wrong.json()).code));

	const right = await fetch(`${base}/actors?name=counter&key=x&namespace=default`, {
		headers: { authorization: `Bearer ${TOKEN}` },
	});
	assert.equal(right.status, 200);
	assert.deepEqual(await right.json(), { actors: [] });

	// Create one actor with the token, then hit its gateway with and without it.
	const put = await fetch(`${base}/actors?namespace=default`, {
		method: "PUT",
		headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
		body: JSON.stringify({ name: "counter", key: "raw-token", runner_name_selector: "default", crash_policy: "sleep" }),
	});
	assert.equal(put.status, 200);
	const id = (await put.json()).actor.actor_id;
	const call = (path, headers = {}) =>
		fetch(`${base}${path}`, {
			method: "POST",
			headers: { "content-type": "application/json", "x-rivet-encoding": "json", ...headers },
			body: JSON.stringify({ args: [1] }),
		});
	const g1 = await call(`/gateway/${encodeURIComponent(id)}/action/increment`);
	assert.ok([401, 403].includes(g1.status), `gateway without token: ${g1.status}`);
	assert.ok(AUTH_CODES.includes((await g1.json()).code));
	const g2 = await call(`/gateway/${encodeURIComponent(id)}@wrong/action/increment`);
	assert.ok([401, 403].includes(g2.status), `gateway wrong @token: ${g2.status}`);
	const g3 = await call(`/gateway/${encodeURIComponent(id)}/action/increment`, { "x-rivet-token": "wrong" });
	assert.ok([401, 403].includes(g3.status), `gateway wrong x-rivet-token: ${g3.status}`);
	const g4 = await call(`/gateway/${encodeURIComponent(id)}@${encodeURIComponent(TOKEN)}/action/increment`);
	assert.equal(g4.status, 200);
	assert.deepEqual(await g4.json(), { output: 1 });
	const g5 = await call(`/gateway/${encodeURIComponent(id)}/action/increment`, { "x-rivet-token": TOKEN });
	assert.equal(g5.status, 200);
	assert.deepEqual(await g5.json(), { output: 2 });
});

for (const combo of combos()) {
	describe(combo.tag, () => {
		const { opts, clients } = comboSetup(combo, { afterEach });

		test(`[${combo.tag}] endpoint option (with and without trailing slash)`, opts, async () => {
			await withEnv({}, async () => {
				for (const endpoint of [open.server.endpoint, `${open.server.endpoint}/`]) {
					const c = makeClient(combo, { endpoint }, clients);
					assert.equal(await within(c.counter.getOrCreate([uid("ep")]).increment(1), `increment via ${endpoint}`), 1);
				}
			});
		});

		test(`[${combo.tag}] RIVET_ENDPOINT environment variable`, opts, async () => {
			await withEnv({ RIVET_ENDPOINT: open.server.endpoint }, async () => {
				const c = makeClient(combo, {}, clients);
				await exerciseEverything(combo, c, "env-endpoint");
			});
		});

		if (combo.urlAuth) {
			test(`[${combo.tag}] URL auth endpoint http://default:TOKEN@host against --token server`, opts, async () => {
				await withEnv({}, async () => {
					const endpoint = `http://default:${TOKEN}@127.0.0.1:${locked.server.port}`;
					const c = makeClient(combo, { endpoint }, clients);
					await exerciseEverything(combo, c, "url-auth");
				});
			});

			test(`[${combo.tag}] URL auth via RIVET_ENDPOINT against --token server`, opts, async () => {
				await withEnv({ RIVET_ENDPOINT: `http://default:${TOKEN}@127.0.0.1:${locked.server.port}` }, async () => {
					const c = makeClient(combo, {}, clients);
					await exerciseEverything(combo, c, "url-auth-env");
				});
			});

			test(`[${combo.tag}] URL auth with a wrong token is rejected`, opts, async () => {
				await withEnv({}, async () => {
					const endpoint = `http://default:wrong-token@127.0.0.1:${locked.server.port}`;
					// Metadata lookup would be retried forever on 401/403, so skip it here to
					// observe the typed error of the manager call.
					const c = makeClient(combo, { endpoint, disableMetadataLookup: true }, clients);
					const err = await rejection(c.counter.getOrCreate([uid("wrong")]).increment(1), "increment with wrong token");
					assert.ok(isAuthError(err), describeErr(err));
					assert.ok(err instanceof combo.mod.ActorError, describeErr(err));
					const conn = c.chatRoom.getOrCreate([uid("wrong")]).connect();
					const opened = collector();
					conn.onOpen(() => opened.push(1));
					await sleep(1500);
					assert.equal(opened.items.length, 0, "connection with wrong token must not open");
					assert.equal(conn.isConnected, false);
					await within(conn.dispose(), "dispose");
					// With metadata lookup on (the default) the call must never succeed.
					const c2 = makeClient(combo, { endpoint }, clients);
					const outcome = await Promise.race([
						c2.counter.getOrCreate([uid("wrong")]).increment(1).then((v) => ({ ok: v }), (e) => ({ err: e })),
						sleep(3000).then(() => ({ pending: true })),
					]);
					assert.ok(!("ok" in outcome), `call with wrong token succeeded: ${JSON.stringify(outcome)}`);
					if (outcome.err) assert.ok(isAuthError(outcome.err), describeErr(outcome.err));
				});
			});
		} else {
			test(`[${combo.tag}] URL auth credentials are ignored by this version (request rejected for missing token)`, opts, async () => {
				await withEnv({}, async () => {
					const endpoint = `http://default:${TOKEN}@127.0.0.1:${locked.server.port}`;
					const c = makeClient(combo, { endpoint, disableMetadataLookup: true }, clients);
					const err = await rejection(c.counter.getOrCreate([uid("ignored")]).increment(1), "increment (creds dropped)");
					assert.ok(isAuthError(err), describeErr(err));
				});
			});
		}

		test(`[${combo.tag}] token option and RIVET_TOKEN against --token server`, opts, async () => {
			await withEnv({}, async () => {
				const c = makeClient(combo, { endpoint: locked.server.endpoint, token: TOKEN }, clients);
				const key = [uid("tok")];
				assert.equal(await within(c.counter.getOrCreate(key).increment(1), "increment with token option"), 1);
				const res = await within(c.chatRoom.getOrCreate(key).fetch("history"), "fetch with token option");
				assert.equal(res.status, 200);
				if (combo.wsToken) {
					await exerciseEverything(combo, c, "token-opt");
				}
			});
			await withEnv({ RIVET_TOKEN: TOKEN, RIVET_ENDPOINT: locked.server.endpoint }, async () => {
				const c = makeClient(combo, {}, clients);
				assert.equal(await within(c.counter.getOrCreate([uid("tokenv")]).increment(5), "increment with RIVET_TOKEN"), 5);
			});
		});

		test(`[${combo.tag}] no token against --token server is rejected`, opts, async () => {
			await withEnv({}, async () => {
				const c = makeClient(combo, { endpoint: locked.server.endpoint, disableMetadataLookup: true }, clients);
				const err = await rejection(c.counter.getOrCreate([uid("none")]).increment(1), "increment without token");
				assert.ok(isAuthError(err), describeErr(err));
			});
		});

		if (!combo.wsToken) {
			test(`[${combo.tag}] this version sends no token on WebSockets: connection to --token server does not open`, opts, async () => {
				await withEnv({}, async () => {
					const c = makeClient(combo, { endpoint: locked.server.endpoint, token: TOKEN }, clients);
					const handle = c.chatRoom.getOrCreate([uid("ws-notoken")]);
					await within(handle.getHistory(), "stateless works with token option");
					const conn = handle.connect();
					const opened = collector();
					conn.onOpen(() => opened.push(1));
					const err = await rejection(conn.getHistory(), "action on connection without WS token");
					assert.ok(err instanceof Error, describeErr(err));
					assert.equal(opened.items.length, 0);
					await within(conn.dispose(), "dispose");
				});
			});
		}
	});
}

// ------------------------------------------------------------ default endpoint

for (const v of new Map(combos().map((c) => [c.version, c])).values()) {
	test(`[${v.version}/default] createClient() with no endpoint uses http://127.0.0.1:6420`, { timeout: TEST_TIMEOUT_MS }, async (t) => {
		if (!(await portIsFree(6420))) {
			t.skip("port 6420 is busy on this machine");
			return;
		}
		const server = new SeedServer({ port: 6420 });
		let client;
		try {
			await server.start();
			await withEnv({}, async () => {
				client = v.mod.createClient();
				assert.equal(await within(client.counter.getOrCreate([uid("default")]).increment(3), "increment via default endpoint"), 3);
			});
		} finally {
			await client?.dispose();
			await server.stop();
		}
	});
}
