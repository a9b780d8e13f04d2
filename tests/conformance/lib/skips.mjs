// Loads and matches the skip list (../skips.json). Shared by the suite shim
// (which turns listed tests into vitest skips) and by report.mjs.
//
// Format: { "<suite test file>": { "<pattern>": "<reason>", ... }, ... }
//   <suite test file>  name of a file in rivetkit/src/driver-test-suite/tests/ without .ts
//   <pattern>          "*" for the whole file, a test title, or a path ending in
//                      the title, "Describe > Sub describe > title" (it may start
//                      at any describe level); "*" matches any text. An optional prefix
//                      "[json] " or "[bare,cbor] " limits the entry to those encodings.
//   <reason>           mandatory, non-empty; printed in RESULTS.md.
// Keys starting with "//" or "$" are comments.

import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const HARNESS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const SKIPS_PATH = process.env.CONFORMANCE_SKIPS ?? path.join(HARNESS_DIR, "skips.json");

function globToRegExp(glob) {
	const esc = glob.split("*").map((s) => s.replace(/[.+?^${}()|[\]\\]/g, "\\$&"));
	return new RegExp(`^${esc.join(".*")}$`, "s");
}

export function loadSkips(file = SKIPS_PATH) {
	const raw = JSON.parse(fs.readFileSync(file, "utf8"));
	const entries = [];
	for (const [testFile, patterns] of Object.entries(raw)) {
		if (testFile.startsWith("//") || testFile.startsWith("$")) continue;
		if (typeof patterns !== "object" || patterns === null) {
			throw new Error(`skips.json: "${testFile}" must map patterns to reasons`);
		}
		for (const [key, reason] of Object.entries(patterns)) {
			if (key.startsWith("//") || key.startsWith("$")) continue;
			if (typeof reason !== "string" || reason.trim() === "") {
				throw new Error(`skips.json: ${testFile} / "${key}" has no reason`);
			}
			let pattern = key;
			let encodings = null;
			const m = /^\[([a-z, ]+)\]\s*(.*)$/s.exec(key);
			if (m) {
				encodings = m[1].split(",").map((s) => s.trim()).filter(Boolean);
				pattern = m[2];
			}
			entries.push({ file: testFile, key, pattern, encodings, reason, re: globToRegExp(pattern) });
		}
	}
	return entries;
}

/**
 * First entry matching the test, or undefined. `relPath` is "Describe > ... > title"
 * (below the encoding); a pattern matches if it matches the whole of any tail of
 * it that starts at a describe boundary, e.g. "title" or "Sub describe > title".
 */
export function matchSkip(entries, { file, encoding, relPath }) {
	const parts = relPath.split(" > ");
	const tails = parts.map((_, i) => parts.slice(i).join(" > "));
	return entries.find(
		(e) =>
			e.file === file &&
			(e.encodings === null || e.encodings.includes(encoding)) &&
			tails.some((t) => e.re.test(t)),
	);
}
