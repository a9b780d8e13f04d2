// The 2.3 query-form gateway (`/gateway/{name}/…?rvt-…`) as the 2.3.x clients use it, and what
// the server answers to malformed queries (typed `guard.query_*` errors; it keeps serving).
import assert from "node:assert/strict";
import { after, afterEach, before, describe, test } from "node:test";
import { comboSetup, combos, describeErr, isErrorWithCode, rejection, uid, useServer, within } from "../lib/harness.mjs";

const srv = useServer({ before, after });
const QUERY_CLIENTS = combos().filter((combo) => combo.version.startsWith("2.3."));

for (const combo of QUERY_CLIENTS) {
	describe(combo.tag, () => {
		const { opts, client } = comboSetup(combo, { afterEach }, srv);

		test(`[${combo.tag}] keys ["a,b"] and ["a","b"] are one actor (the engine splits rvt-key on commas)`, opts, async () => {
			const c = client();
			const tag = uid("comma");
			assert.equal(await within(c.counter.getOrCreate([`${tag},x`]).increment(1), "increment [\"t,x\"]"), 1);
			assert.equal(await within(c.counter.getOrCreate([tag, "x"]).increment(1), "increment [\"t\",\"x\"]"), 2);
		});

		test(`[${combo.tag}] get of a missing key rejects with actor/not_found, with no retry loop`, opts, async () => {
			const c = client();
			const started = Date.now();
			const err = await rejection(c.counter.get([uid("missing")]).getCount(), "get(missing).getCount()");
			assert.ok(isErrorWithCode(err, "not_found", "actor"), describeErr(err));
			assert.ok(Date.now() - started < 5000, `took ${Date.now() - started} ms`);
		});
	});
}

describe("malformed query paths", () => {
	const base = "rvt-namespace=default&rvt-method=getOrCreate&rvt-runner=default&rvt-key=q";
	const cases = [
		[`${base}&rvt-input=@@`, 400, "query_invalid_base64_input"],
		[`${base}&rvt-input=oQ`, 400, "query_invalid_cbor_input"],
		[`${base}&rvt-input=${"A".repeat(6000)}`, 400, "query_input_too_large"],
		["rvt-namespace=default&rvt-method=fetch", 400, "query_invalid_params"],
		["rvt-method=get", 400, "query_invalid_params"],
		["rvt-namespace=&rvt-method=get", 400, "query_invalid_params"],
		[`${base}&rvt-namespace=other`, 400, "query_duplicate_param"],
	];
	for (const [query, status, code] of cases) {
		test(`${code}: ${query.slice(0, 80)}`, { timeout: 10_000 }, async () => {
			const res = await fetch(`${srv.server.endpoint}/gateway/counter/action/increment?${query}`, {
				method: "POST",
				headers: { "content-type": "application/json", "x-rivet-encoding": "json" },
				body: JSON.stringify({ args: [1] }),
			});
			assert.equal(res.status, status);
			const body = await res.json();
			assert.equal(body.group, "guard");
			assert.equal(body.code, code);
		});
	}
	test("the server keeps serving after every malformed query", { timeout: 10_000 }, async () => {
		const res = await fetch(`${srv.server.endpoint}/gateway/counter/action/increment?${base}`, {
			method: "POST",
			headers: { "content-type": "application/json", "x-rivet-encoding": "json" },
			body: JSON.stringify({ args: [5] }),
		});
		assert.equal(res.status, 200);
		assert.deepEqual(await res.json(), { output: 5 });
	});
});
