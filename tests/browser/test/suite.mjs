// The browser tests of one official client version, shared by the per-version test files.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { setUp, TEST_TIMEOUT_MS, uid } from "../lib/harness.mjs";

export const ENCODINGS = ["json", "cbor", "bare"];

/**
 * Registers the tests of `version`, whose bundled page is `pages/<page>.mjs`; with `http1`,
 * Chromium runs with HTTP/2 off, so requests and WebSockets use HTTP/1.1 over TLS.
 */
export function clientSuite({ version, page: pageName, http1 = false }) {
	const tag = http1 ? `${version} over HTTP/1.1` : version;
	const protocol = http1 ? "http/1.1" : "h2";
	describe(`rivetkit ${tag} in Chromium`, () => {
		let env;
		let page;
		let protocols;
		before(async () => {
			env = await setUp([pageName], { chromiumArgs: http1 ? ["--disable-http2"] : [] });
			({ page, protocols } = await env.open(pageName));
			assert.equal(await page.evaluate(() => window.scenarios.version), version);
		});
		after(async () => {
			await env?.close();
		});

		/** Runs `window.scenarios[name](options)` in the page; failures carry the logs. */
		async function run(name, options) {
			try {
				return await page.evaluate(
					([scenario, args]) => window.scenarios[scenario](args),
					[name, { endpoint: env.server.endpoint, ...options }],
				);
			} catch (error) {
				error.message += `\n${env.diagnostics()}`;
				throw error;
			}
		}
		const opts = { timeout: TEST_TIMEOUT_MS };

		for (const encoding of ENCODINGS) {
			test(`[${tag}/${encoding}] stateless increment`, opts, async () => {
				const result = await run("increment", { encoding, key: uid("counter") });
				assert.deepEqual(result, { first: 2, second: 5, count: 5 });
			});

			test(`[${tag}/${encoding}] a connection receives count events`, opts, async () => {
				const result = await run("event", { encoding, key: uid("counter") });
				assert.deepEqual(result, { own: 1, other: 11, events: [1, 11] });
			});

			test(`[${tag}/${encoding}] an empty authToken is refused on stateless calls`, opts, async () => {
				const result = await run("paramsRejectedStateless", { encoding, key: uid("chat") });
				const detail = JSON.stringify(result);
				for (const call of [result.read, result.write]) {
					assert.equal(call.rejected?.isActorError, true, detail);
					assert.equal(call.rejected.group, "user", detail);
					assert.equal(call.rejected.code, "forbidden", detail);
				}
				assert.deepEqual(result.history, [], detail);
			});

			test(`[${tag}/${encoding}] an empty authToken is refused on a connection`, opts, async () => {
				const result = await run("paramsRejectedConnection", { encoding, key: uid("chat") });
				const detail = JSON.stringify(result);
				assert.equal(result.queued.rejected?.isActorError, true, detail);
				assert.equal(result.queued.rejected.code, "forbidden", detail);
				assert.ok(result.errors.some((error) => error.code === "forbidden"), detail);
				assert.deepEqual(result.history, [], detail);
			});
		}

		test(`[${tag}] raw fetch to chatRoom's onRequest`, opts, async () => {
			const result = await run("rawFetch", { encoding: "json", key: uid("chat") });
			assert.deepEqual(result, {
				historyStatus: 200,
				history: ["hello from the browser"],
				postedStatus: 404,
				posted: "not found",
			});
		});

		test(`[${tag}] raw WebSocket to chatRoom's onWebSocket`, opts, async () => {
			const result = await run("rawWebSocket", { encoding: "json", key: uid("chat") });
			assert.deepEqual(result, {
				received: ["over a raw socket"],
				closeCode: 1000,
				history: ["over a raw socket"],
			});
		});

		test(`[${tag}] Chromium spoke ${protocol} to seed-server, WebSockets included`, opts, async () => {
			const toServer = protocols.responses.filter((r) => r.url.startsWith(env.server.endpoint));
			assert.ok(toServer.length > 0, "requests to seed-server were recorded");
			assert.deepEqual(
				[...new Set(toServer.map((r) => r.protocol))],
				[protocol],
				JSON.stringify(toServer.slice(0, 10)),
			);
			// One connection per encoding, plus the raw socket. Over HTTP/2 each opens as a stream
			// of the connection (extended CONNECT answers 200); over HTTP/1.1 as an upgrade (101).
			const statuses = protocols.webSockets.map((ws) => ws.status);
			assert.ok(statuses.length >= ENCODINGS.length, JSON.stringify(statuses));
			assert.deepEqual([...new Set(statuses)], [http1 ? 101 : 200], JSON.stringify(statuses));
		});

		test(`[${tag}] the console shows no response blocked by the browser`, opts, async () => {
			// 2.3 clients on a localhost page load `{endpoint}/devtools/mod.js`; the server's 404
			// for it must be a script, or Chromium's opaque-response blocking (ORB) logs an error.
			const blocked = env.consoleLines.filter((line) => /ERR_BLOCKED_BY_(ORB|RESPONSE)|CORS/.test(line));
			assert.deepEqual(blocked, [], env.consoleLines.join("\n"));
		});
	});
}
