// Wraps vitest's `describe` / `test` / `it` for the official driver test suite.
//
// The vite plugin in ./skip-plugin.mjs rewrites every `import ... from "vitest"`
// of rivetkit's bundled suite (dist/tsup/driver-test-suite/mod.js) to a virtual
// module that re-exports vitest with `describe`/`test`/`it` replaced by
// `wrapVitest(<suite test file>)`. The suite itself is not modified on disk.
//
// The wrappers
//   * track the describe path (and so the encoding) of every test,
//   * turn tests listed in skips.json into `test.skip` (reason in the manifest),
//   * record tests the suite skips by itself (describe.skip / test.skip / *.skipIf),
//   * drop tests outside CONFORMANCE_FILES / CONFORMANCE_ENCODINGS (developer filter),
//   * run each test body inside an AsyncLocalStorage scope so the server
//     launcher can name the server log after the test,
//   * append one line per registered test to $CONFORMANCE_OUT_DIR/manifest.jsonl
//     (suite file, encoding, names, skip reason), which report.mjs joins with
//     vitest's JSON report.

import { AsyncLocalStorage } from "node:async_hooks";
import fs from "node:fs";
import path from "node:path";
import { loadSkips, matchSkip } from "./skips.mjs";

// State shared by every virtual module instance (one per suite file).
const G = (globalThis.__conformanceShim ??= {
	stack: [], // [{ name, suiteSkip?: string }]
	als: new AsyncLocalStorage(),
	skips: null,
	manifestPath: null,
});

const list = (v) =>
	v
		? v.split(",").map((s) => s.trim()).filter(Boolean)
		: null;
const onlyFiles = list(process.env.CONFORMANCE_FILES);
const onlyEncodings = list(process.env.CONFORMANCE_ENCODINGS);
const ignoreSkips = process.env.CONFORMANCE_IGNORE_SKIPS === "1";

function skips() {
	G.skips ??= loadSkips();
	return G.skips;
}

function manifest(entry) {
	if (!G.manifestPath) {
		const out = process.env.CONFORMANCE_OUT_DIR;
		if (!out) return;
		G.manifestPath = path.join(out, "manifest.jsonl");
	}
	fs.appendFileSync(G.manifestPath, `${JSON.stringify(entry)}\n`);
}

/** The test whose body is running (for the server launcher), or undefined. */
export function currentTest() {
	return G.als.getStore();
}

function encodingOf(stack) {
	for (const s of stack) {
		const m = /^encoding \((\w+)\)$/.exec(s.name);
		if (m) return m[1];
	}
	return undefined;
}

function splitArgs(args) {
	const i = args.findIndex((a) => typeof a === "function");
	return i;
}

// Suite files that only group others (their describes must stay when a member is selected).
const GROUPS = { mod: null, "actor-driver": ["actor-state", "actor-schedule", "actor-sleep"] };
function fileSelected(file) {
	if (!onlyFiles) return true;
	if (file in GROUPS) return GROUPS[file] === null || GROUPS[file].some((f) => onlyFiles.includes(f));
	return onlyFiles.includes(file);
}

const SUITE_SKIP = (how) => `skipped by the rivetkit 2.1.3 suite itself (${how} in its source)`;

export function wrapVitest(file, vitest) {
	const origDescribe = vitest.describe;
	const origTest = vitest.test;

	function registerDescribe(orig, suiteSkip, name, args) {
		// Developer filter: leave out whole describes (vitest rejects empty ones).
		const enc = /^encoding \((\w+)\)$/.exec(name);
		if (enc && onlyEncodings && !onlyEncodings.includes(enc[1])) return;
		if (!fileSelected(file)) return;
		// vitest runs describe factories lazily (after the parent factory has
		// returned), so remember the path at registration and restore it then.
		const path = [...G.stack, { name, suiteSkip }];
		const i = splitArgs(args);
		if (i >= 0) {
			const factory = args[i];
			args = [...args];
			args[i] = function (...a) {
				const saved = G.stack;
				G.stack = path;
				try {
					return factory.apply(this, a);
				} finally {
					G.stack = saved;
				}
			};
		}
		return orig(name, ...args);
	}

	function registerTest(orig, ownSkip, name, args) {
		const stack = G.stack;
		const encoding = encodingOf(stack);
		if (onlyFiles && !onlyFiles.includes(file)) return;
		if (encoding && onlyEncodings && !onlyEncodings.includes(encoding)) return;
		const encIdx = stack.findIndex((s) => /^encoding \(/.test(s.name));
		const rel = stack.slice(encIdx + 1).map((s) => s.name);
		const relPath = [...rel, name].join(" > ");
		const ancestors = stack.map((s) => s.name);
		const suiteSkip = ownSkip ?? stack.find((s) => s.suiteSkip)?.suiteSkip;
		const listed = suiteSkip ? undefined : matchSkip(skips(), { file, encoding, title: name, relPath });
		const skipReason = suiteSkip ?? (listed && !ignoreSkips ? listed.reason : undefined);
		manifest({
			file,
			encoding,
			ancestors,
			title: name,
			relPath,
			skip: skipReason ? { by: suiteSkip ? "suite" : "skips.json", reason: skipReason, key: listed?.key } : null,
			listedButRun: listed && ignoreSkips ? listed.key : undefined,
		});
		const i = splitArgs(args);
		if (i >= 0) {
			const fn = args[i];
			const info = { file, encoding, title: name, relPath };
			args = [...args];
			args[i] = function (ctx) {
				return G.als.run(info, () => fn.call(this, ctx));
			};
		}
		if (skipReason && !suiteSkip) return origTest.skip(name, ...args);
		return orig(name, ...args);
	}

	const describe = (name, ...args) => registerDescribe(origDescribe, undefined, name, args);
	describe.skip = (name, ...args) => registerDescribe(origDescribe.skip, SUITE_SKIP("describe.skip"), name, args);
	describe.skipIf = (cond) => (cond ? (name, ...args) => registerDescribe(origDescribe.skip, SUITE_SKIP("describe.skipIf"), name, args) : describe);
	describe.runIf = (cond) => describe.skipIf(!cond);
	describe.only = origDescribe.only;
	describe.todo = origDescribe.todo;
	describe.each = origDescribe.each;
	describe.for = origDescribe.for;
	describe.concurrent = origDescribe.concurrent;
	describe.sequential = origDescribe.sequential;

	const test = (name, ...args) => registerTest(origTest, undefined, name, args);
	test.skip = (name, ...args) => registerTest(origTest.skip, SUITE_SKIP("test.skip"), name, args);
	test.skipIf = (cond) => (cond ? (name, ...args) => registerTest(origTest.skip, SUITE_SKIP("test.skipIf"), name, args) : test);
	test.runIf = (cond) => test.skipIf(!cond);
	test.only = origTest.only;
	test.todo = origTest.todo;
	test.each = origTest.each;
	test.for = origTest.for;
	test.concurrent = origTest.concurrent;
	test.sequential = origTest.sequential;
	test.fails = origTest.fails;
	test.extend = origTest.extend;

	return { describe, test, it: test };
}
