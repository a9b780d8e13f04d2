// The inspector page (/ui) in Chromium against seed-server started with --inspector-token: log
// in, search, open a counter, call `increment` through the form, and see the state, the event
// list and an action error update live, also for an increment made from outside over HTTP.
// The screenshot lands in tests/browser/artifacts/inspector.png (kept by CI).
import assert from "node:assert/strict";
import fs from "node:fs";
import https from "node:https";
import path from "node:path";
import { after, before, describe, test } from "node:test";

import { ROOT, setUp, STEP_TIMEOUT_MS, TEST_TIMEOUT_MS, uid } from "../lib/harness.mjs";

const INSPECTOR_TOKEN = `inspector-${process.pid}`;
const SCREENSHOT = path.join(ROOT, "artifacts", "inspector.png");

describe("inspector page in Chromium", () => {
	let env;
	before(async () => {
		env = await setUp([], { serverArgs: ["--inspector-token", INSPECTOR_TOKEN] });
	});
	after(async () => {
		await env?.close();
	});

	/** A JSON request to seed-server from outside the page (no inspector token). */
	function request(method, urlPath, body) {
		return new Promise((resolve, reject) => {
			const call = https.request(
				`${env.server.endpoint}${urlPath}`,
				{ method, ca: env.certificate.pem, headers: { "content-type": "application/json" } },
				(response) => {
					let text = "";
					response.setEncoding("utf8");
					response.on("data", (chunk) => (text += chunk));
					response.on("end", () => resolve({ status: response.statusCode, body: JSON.parse(text) }));
				},
			);
			call.on("error", reject);
			call.end(JSON.stringify(body));
		});
	}

	async function createActor(name, key) {
		const { status, body } = await request("PUT", "/actors", { name, key });
		assert.equal(status, 200, JSON.stringify(body));
		return body.actor.actor_id;
	}

	/** Waits until `selector`'s text satisfies `matches` (a substring); fails with the page text. */
	async function shows(page, selector, expected) {
		try {
			await page.waitForFunction(
				([selector, text]) => document.querySelector(selector)?.textContent.includes(text),
				[selector, expected],
				{ timeout: STEP_TIMEOUT_MS },
			);
		} catch (error) {
			const text = await page.textContent("body").catch(() => "(no page)");
			throw new Error(`${selector} never showed ${JSON.stringify(expected)}; page: ${text}\n${env.diagnostics()}`, { cause: error });
		}
	}

	test("log in, search, call increment through the form, see state and events update live", { timeout: TEST_TIMEOUT_MS }, async () => {
		const key = uid("inspected");
		const counterId = await createActor("counter", key);
		await createActor("chatRoom", uid("room"));

		const page = await env.browser.newPage();
		page.on("console", (message) => env.consoleLines.push(`[inspector] ${message.type()}: ${message.text()}`));
		page.on("pageerror", (error) => env.consoleLines.push(`[inspector] pageerror: ${error.message}`));
		await page.setViewportSize({ width: 1280, height: 900 });
		await page.goto(`${env.server.endpoint}/ui`);

		// A wrong token is refused and the form asks again.
		await page.fill("#token", "not-the-token");
		await page.click("#login button[type=submit]");
		await shows(page, "#login-error", "inspector/unauthorized");
		assert.equal(await page.evaluate(() => sessionStorage.getItem("rivetkit-inspector-token")), null);

		await page.fill("#token", INSPECTOR_TOKEN);
		await page.click("#login button[type=submit]");
		await page.waitForSelector("#login", { state: "hidden", timeout: STEP_TIMEOUT_MS });
		await page.fill("#search", "counter");
		await page.click("#search-form button[type=submit]");
		// The list shown at login (every actor) may still be on the page right after the click:
		// wait for the searched list, which has the counter and no chat room.
		await page.waitForFunction(
			(key) => {
				const text = document.querySelector("#actors")?.textContent ?? "";
				return text.includes(key) && !text.includes("chatRoom");
			},
			key,
			{ timeout: STEP_TIMEOUT_MS },
		);

		// Marks this document: a reload would lose it.
		await page.evaluate(() => {
			window.notReloaded = true;
		});
		await page.click(`#actors button[data-actor-id="${counterId}"]`);
		await shows(page, "#watch-status", "live");
		await shows(page, "#state", '"count": 0');

		await page.selectOption("#action-name", "increment");
		await page.fill("#action-args", "[5]");
		await page.click("#call-form button[type=submit]");
		await shows(page, "#action-output", "increment → 5");
		await shows(page, "#state", '"count": 5');
		await shows(page, "#events", "count [5]");

		// From outside, over HTTP: the page updates by itself.
		const { status, body } = await request("POST", `/gateway/${counterId}/action/increment`, { args: [2] });
		assert.equal(status, 200, JSON.stringify(body));
		await shows(page, "#state", '"count": 7');
		await shows(page, "#events li:first-child", "count [7]");

		// A failing call shows as a recent error.
		await page.fill("#action-args", '["five"]');
		await page.click("#call-form button[type=submit]");
		await shows(page, "#action-output", "increment failed");
		await shows(page, "#errors", "action increment");

		assert.equal(await page.evaluate(() => window.notReloaded), true, "the page was not reloaded");
		const pageErrors = env.consoleLines.filter((line) => line.includes("pageerror") || line.includes("Content Security Policy"));
		assert.deepEqual(pageErrors, []);

		fs.mkdirSync(path.dirname(SCREENSHOT), { recursive: true });
		await page.screenshot({ path: SCREENSHOT, fullPage: true });
	});
});
