// Seed doc: "Calling from Backend" — a Hono app whose route calls the actor.
import assert from "node:assert/strict";
import http from "node:http";
import { after, afterEach, before, describe, test } from "node:test";
import { Hono } from "hono";
import { TEST_TIMEOUT_MS, comboSetup, combos, makeClient, uid, useServer, within } from "../lib/harness.mjs";

const srv = useServer({ before, after });

/** Serves a fetch-style app (Hono) with node's http module on a random port. */
async function serve(app) {
	const server = http.createServer(async (req, res) => {
		try {
			const chunks = [];
			for await (const chunk of req) chunks.push(chunk);
			const body = chunks.length ? Buffer.concat(chunks) : undefined;
			const request = new Request(`http://${req.headers.host}${req.url}`, {
				method: req.method,
				headers: Object.entries(req.headers).flatMap(([k, v]) => (Array.isArray(v) ? v.map((x) => [k, x]) : [[k, v]])),
				body: req.method === "GET" || req.method === "HEAD" ? undefined : body,
			});
			const response = await app.fetch(request);
			res.writeHead(response.status, Object.fromEntries(response.headers));
			res.end(Buffer.from(await response.arrayBuffer()));
		} catch (err) {
			res.writeHead(500, { "content-type": "text/plain" });
			res.end(String(err?.stack ?? err));
		}
	});
	await new Promise((r) => server.listen(0, "127.0.0.1", r));
	return {
		url: `http://127.0.0.1:${server.address().port}`,
		close: () => new Promise((r) => server.close(() => r())),
	};
}

function backendApp(client) {
	const app = new Hono();
	app.post("/increment/:name", async (c) => {
		const counterHandle = client.counter.getOrCreate([c.req.param("name")]);
		const newCount = await counterHandle.increment(1);
		return c.json({ count: newCount });
	});
	return app;
}

for (const combo of combos()) {
	describe(combo.tag, () => {
		const { opts, clients } = comboSetup(combo, { afterEach });

		test(`[${combo.tag}] Hono route calls the actor through the client`, opts, async () => {
			// createClient() picks the endpoint up from RIVET_ENDPOINT, as in the doc.
			process.env.RIVET_ENDPOINT = srv.server.endpoint;
			let web;
			try {
				const client = makeClient(combo, {}, clients);
				web = await serve(backendApp(client));
				const name = uid("visitor");
				const post = async (n) => {
					const res = await within(fetch(`${web.url}/increment/${encodeURIComponent(n)}`, { method: "POST" }), "POST /increment");
					const text = await res.text();
					assert.equal(res.status, 200, text);
					return JSON.parse(text);
				};
				assert.deepEqual(await post(name), { count: 1 });
				assert.deepEqual(await post(name), { count: 2 });
				assert.deepEqual(await post(`${name}-other`), { count: 1 });
				// Concurrent requests from the backend are all counted.
				const results = await Promise.all(Array.from({ length: 10 }, () => post(name)));
				assert.deepEqual(results.map((r) => r.count).sort((a, b) => a - b), [3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
				const direct = makeClient(combo, { endpoint: srv.server.endpoint }, clients);
				assert.equal(await within(direct.counter.getOrCreate([name]).getCount(), "getCount"), 12);
			} finally {
				delete process.env.RIVET_ENDPOINT;
				await web?.close();
			}
		});
	});
}

for (const v of new Map(combos().map((c) => [c.version, c])).values()) {
	test(`[${v.version}/default] createClient() with no options (default encoding) behind a Hono route`, { timeout: TEST_TIMEOUT_MS }, async () => {
		process.env.RIVET_ENDPOINT = srv.server.endpoint;
		const client = v.mod.createClient();
		let web;
		try {
			web = await serve(backendApp(client));
			const res = await within(fetch(`${web.url}/increment/${uid("dflt")}`, { method: "POST" }), "POST");
			const text = await res.text();
			assert.equal(res.status, 200, text);
			assert.deepEqual(JSON.parse(text), { count: 1 });
		} finally {
			delete process.env.RIVET_ENDPOINT;
			await web?.close();
			await client.dispose();
		}
	});
}
