// @rivetkit/react 2.3.11 in Chromium: useActor connects to seed-server over HTTPS, a click
// calls `increment`, and the page re-renders on the `count` event, also for another tab's click.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { setUp, STEP_TIMEOUT_MS, TEST_TIMEOUT_MS, uid } from "../lib/harness.mjs";

describe("@rivetkit/react 2.3.11 in Chromium", () => {
	let env;
	before(async () => {
		env = await setUp(["react"]);
	});
	after(async () => {
		await env?.close();
	});

	async function openCounter(key) {
		const query = new URLSearchParams({ endpoint: env.server.endpoint, key });
		const { page, protocols } = await env.open(`react`, `?${query}`);
		return { page, protocols };
	}

	/** Waits until `#id` shows `expected`; fails with what it shows and the logs. */
	async function shows(page, id, expected) {
		try {
			await page.waitForFunction(
				([selector, text]) => document.querySelector(selector)?.textContent === text,
				[`#${id}`, expected],
				{ timeout: STEP_TIMEOUT_MS },
			);
		} catch (error) {
			const text = await page.textContent("main").catch(() => "(no page)");
			throw new Error(`#${id} never showed ${JSON.stringify(expected)}; page: ${text}\n${env.diagnostics()}`, { cause: error });
		}
	}

	test("useActor connects; a click increments; the count event re-renders this and another tab", { timeout: TEST_TIMEOUT_MS }, async () => {
		const key = uid("react");
		const first = await openCounter(key);
		await shows(first.page, "connected", "true");
		await shows(first.page, "count", "none");

		await first.page.click("#increment");
		await shows(first.page, "reply", "1");
		await shows(first.page, "count", "1");
		await first.page.click("#increment");
		await shows(first.page, "count", "2");
		await shows(first.page, "events", "2");

		const second = await openCounter(key);
		await shows(second.page, "connected", "true");
		await second.page.click("#increment");
		await shows(second.page, "reply", "3");
		// The first tab did nothing and still re-rendered with the other tab's count.
		await shows(first.page, "count", "3");
		await shows(first.page, "events", "3");
		assert.equal(await first.page.textContent("#reply"), "2");

		const toServer = first.protocols.responses.filter((r) => r.url.startsWith(env.server.endpoint));
		assert.ok(toServer.length > 0);
		assert.deepEqual([...new Set(toServer.map((r) => r.protocol))], ["h2"]);
	});
});
