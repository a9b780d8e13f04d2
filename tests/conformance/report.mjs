// Builds the per-file x encoding table from vitest's JSON report and the
// manifest written by lib/suite-shim.mjs, prints it, writes it as Markdown, and
// exits 1 if any test that is not skipped failed (or did not report).
//
// usage: node report.mjs [--results F] [--manifest F] [--out F] [--copy-to RESULTS.md] [--title text]
// (defaults: results.json, manifest.jsonl, RESULTS.md in $CONFORMANCE_OUT_DIR or out/latest)

import fs from "node:fs";
import path from "node:path";
import { HARNESS_DIR, loadSkips } from "./lib/skips.mjs";

const args = process.argv.slice(2);
const opt = (name, def) => {
	const i = args.indexOf(name);
	return i >= 0 ? args[i + 1] : def;
};
const outDir = process.env.CONFORMANCE_OUT_DIR ?? path.join(HARNESS_DIR, "out", "latest");
const resultsPath = opt("--results", path.join(outDir, "results.json"));
const manifestPath = opt("--manifest", path.join(outDir, "manifest.jsonl"));
const mdPath = opt("--out", path.join(outDir, "RESULTS.md"));
const copyTo = opt("--copy-to", null);
const extra = opt("--title", "");

const ENCODINGS = ["bare", "cbor", "json"];
const problems = [];

const manifest = fs.existsSync(manifestPath)
	? fs.readFileSync(manifestPath, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l))
	: [];
const keyOf = (ancestors, title) => [...ancestors, title].join("\u0000");
const byKey = new Map(manifest.map((m) => [keyOf(m.ancestors, m.title), m]));

let results = null;
if (fs.existsSync(resultsPath)) {
	results = JSON.parse(fs.readFileSync(resultsPath, "utf8"));
} else {
	problems.push(`no vitest JSON report at ${resultsPath} (vitest crashed or was killed by the overall timeout)`);
}

// One row per registered test: manifest entry + vitest status.
const rows = [];
const seen = new Set();
for (const file of results?.testResults ?? []) {
	if (file.status === "failed" && file.assertionResults.length === 0) {
		problems.push(`vitest could not collect ${path.basename(file.name)}: ${file.message}`);
	}
	for (const a of file.assertionResults) {
		const key = keyOf(a.ancestorTitles, a.title);
		const m = byKey.get(key);
		seen.add(key);
		if (!m) {
			problems.push(`test not in manifest: ${a.fullName}`);
			continue;
		}
		rows.push({ ...m, status: a.status, duration: a.duration, failureMessages: a.failureMessages ?? [] });
	}
}
for (const m of manifest) {
	if (!seen.has(keyOf(m.ancestors, m.title)) && results) {
		rows.push({ ...m, status: "missing", failureMessages: ["no result reported by vitest"] });
	}
}

const cls = (r) => (r.status === "passed" ? "passed" : r.status === "skipped" || r.status === "pending" || r.status === "todo" ? "skipped" : "failed");

// Table in suite order.
const files = [];
for (const r of rows) if (!files.includes(r.file)) files.push(r.file);
const encodings = ENCODINGS.filter((e) => rows.some((r) => r.encoding === e));
const count = (f, e) => {
	const c = { passed: 0, failed: 0, skipped: 0 };
	for (const r of rows) if ((f === null || r.file === f) && (e === null || r.encoding === e)) c[cls(r)]++;
	return c;
};
const cell = (c) => `${c.passed} / ${c.failed} / ${c.skipped}`;

const lines = [];
lines.push("# Conformance: rivetkit 2.1.3 driver test suite vs conformance-server", "");
if (extra) lines.push(extra, "");
const tot = count(null, null);
lines.push(
	`**Total: ${tot.passed} passed, ${tot.failed} failed, ${tot.skipped} skipped of ${rows.length}** ` +
		`(official TypeScript server: 691 / 759 passed).`,
	"",
	"Cells: passed / failed / skipped.",
	"",
);
lines.push(`| test file | ${encodings.join(" | ")} | total |`);
lines.push(`|---|${encodings.map(() => "---").join("|")}|---|`);
for (const f of files) {
	lines.push(`| ${f} | ${encodings.map((e) => cell(count(f, e))).join(" | ")} | ${cell(count(f, null))} |`);
}
lines.push(`| **total** | ${encodings.map((e) => cell(count(null, e))).join(" | ")} | ${cell(tot)} |`, "");

// Failures.
const failed = rows.filter((r) => cls(r) === "failed");
const logFor = (r) => {
	const dir = path.join(outDir, "logs", r.encoding ?? "unknown", r.file);
	const base = r.title.replace(/[^A-Za-z0-9._-]+/g, "_").slice(0, 120);
	try {
		return fs
			.readdirSync(dir)
			.filter((n) => n.startsWith(`${base}.`))
			.map((n) => path.relative(HARNESS_DIR, path.join(dir, n)));
	} catch {
		return [];
	}
};
const firstLine = (msg) => (msg ?? "").split("\n").find((l) => l.trim() !== "")?.trim().slice(0, 300) ?? "";
if (failed.length) {
	lines.push(`## Failures (${failed.length})`, "");
	for (const r of failed) {
		const logs = logFor(r);
		lines.push(`- **${r.file}** [${r.encoding}] ${r.relPath}`);
		let msg = firstLine(r.failureMessages[0]);
		// vitest's JSON report loses the message of a timeout ("Error: STACK_TRACE_ERROR").
		if (msg === "Error: STACK_TRACE_ERROR") {
			msg = `Test timed out (${Math.round(r.duration ?? 0)} ms; full error in ${path.relative(HARNESS_DIR, outDir)}/vitest.log)`;
		}
		lines.push(`  - ${msg.replace(/\|/g, "\\|")}`);
		if (logs.length) lines.push(`  - server log: ${logs.join(", ")}`);
	}
	lines.push("");
}

// Skips, with reasons: grouped by (file, reason, skip-list key).
const skippedRows = rows.filter((r) => cls(r) === "skipped");
const groups = new Map();
for (const r of skippedRows) {
	const vitestFilter = process.env.CONFORMANCE_VITEST_ARGS;
	const reason =
		r.skip?.reason ??
		(vitestFilter ? `not selected by vitest args: ${vitestFilter}` : "UNEXPLAINED SKIP (not from skips.json nor the suite itself)");
	if (!r.skip && !vitestFilter) problems.push(`skipped without a reason: [${r.encoding}] ${r.file} > ${r.relPath}`);
	const k = `${r.file}\u0000${r.skip?.key ?? ""}\u0000${reason}`;
	if (!groups.has(k)) groups.set(k, { file: r.file, key: r.skip?.key, by: r.skip?.by, reason, tests: new Map() });
	const g = groups.get(k);
	if (!g.tests.has(r.relPath)) g.tests.set(r.relPath, []);
	g.tests.get(r.relPath).push(r.encoding);
}
if (groups.size) {
	lines.push(`## Skipped tests (${skippedRows.length}) and why`, "");
	for (const g of groups.values()) {
		const n = [...g.tests.values()].reduce((a, b) => a + b.length, 0);
		const src = g.by === "suite" ? "suite" : `skips.json \`${g.key}\``;
		lines.push(`- **${g.file}** (${src}, ${n} tests): ${g.reason}`);
		for (const [t, encs] of g.tests) {
			const all = encodings.every((e) => encs.includes(e));
			lines.push(`  - ${t}${all ? "" : ` [${encs.join(", ")}]`}`);
		}
	}
	lines.push("");
}

// Skip-list entries that matched nothing (stale after a rename or a fixture landed and the test was unlisted wrongly).
const filtered = process.env.CONFORMANCE_FILES || process.env.CONFORMANCE_ENCODINGS;
if (!filtered && manifest.length) {
	const used = new Set(manifest.filter((m) => m.skip?.by === "skips.json" || m.listedButRun).map((m) => `${m.file}\u0000${m.skip?.key ?? m.listedButRun}`));
	const stale = loadSkips().filter((e) => !used.has(`${e.file}\u0000${e.key}`));
	for (const e of stale) problems.push(`skips.json entry matches no test: ${e.file} / "${e.key}"`);
}
// rivetkit 2.1.3 registers 253 tests per encoding, 4 of them skipped by the suite itself.
if (!filtered && results && !process.env.CONFORMANCE_VITEST_ARGS && rows.length !== 759) {
	problems.push(`expected 759 tests (253 x 3 encodings), vitest reported ${rows.length}`);
}
const ranListed = rows.filter((r) => r.listedButRun);
if (ranListed.length) {
	const passedListed = ranListed.filter((r) => cls(r) === "passed");
	lines.push(
		`## Listed in skips.json but run anyway (CONFORMANCE_IGNORE_SKIPS=1): ${passedListed.length} of ${ranListed.length} passed`,
		"",
	);
	for (const r of passedListed) lines.push(`- passes now: **${r.file}** [${r.encoding}] ${r.relPath} (entry \`${r.listedButRun}\`)`);
	lines.push("");
}
if (problems.length) {
	lines.push("## Harness problems", "", ...problems.map((p) => `- ${p}`), "");
}

const md = lines.join("\n");
fs.mkdirSync(path.dirname(mdPath), { recursive: true });
fs.writeFileSync(mdPath, md);
if (copyTo) fs.writeFileSync(copyTo, md);

// Terminal summary: the table, failures and problems (the skip list is in the file).
const term = [];
const cut = lines.findIndex((l) => l.startsWith("## Skipped tests"));
for (const [i, l] of lines.entries()) {
	if (cut >= 0 && i >= cut && !lines.slice(cut, i + 1).some((x) => x.startsWith("## Harness problems") || x.startsWith("## Listed in"))) continue;
	term.push(l);
}
console.log(term.join("\n"));
console.log(`(full report with the skip list and reasons: ${path.relative(process.cwd(), mdPath)}${copyTo ? `, ${path.relative(process.cwd(), copyTo)}` : ""})`);

const hardProblems = problems.filter((p) => !p.startsWith("skips.json entry matches no test"));
process.exit(failed.length > 0 || hardProblems.length > 0 || !results ? 1 : 0);
