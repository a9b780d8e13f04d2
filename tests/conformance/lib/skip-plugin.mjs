// Vite plugin: routes the `vitest` imports of rivetkit's bundled driver test
// suite through ./suite-shim.mjs, one virtual module per suite test file.
//
// The bundle (node_modules/rivetkit/dist/tsup/driver-test-suite/mod.js) keeps
// esbuild's section markers `// src/driver-test-suite/tests/<file>.ts`, so each
// `import { describe as describeN, ... } from "vitest"` can be attributed to the
// suite test file it belongs to. Only the module specifier is rewritten; the
// suite's code is untouched. vitest must inline (transform) that module:
// `server.deps.inline` in vitest.config.mjs.

import path from "node:path";
import { fileURLToPath } from "node:url";

const SHIM = path.join(path.dirname(fileURLToPath(import.meta.url)), "suite-shim.mjs");
const VIRTUAL = "virtual:conformance-vitest/";
const SUITE_BUNDLE = /[\\/]rivetkit[\\/]dist[\\/]tsup[\\/]driver-test-suite[\\/]mod\.js$/;

export function suiteSkipPlugin() {
	const seenFiles = new Set();
	return {
		name: "conformance-suite-skip",
		enforce: "pre",
		resolveId(id) {
			if (id.startsWith(VIRTUAL)) return `\0${id}`;
		},
		load(id) {
			if (!id.startsWith(`\0${VIRTUAL}`)) return;
			const file = id.slice(VIRTUAL.length + 1);
			return [
				`import * as vitest from "vitest";`,
				`import { wrapVitest } from ${JSON.stringify(SHIM)};`,
				`export * from "vitest";`,
				`const w = wrapVitest(${JSON.stringify(file)}, vitest);`,
				`export const describe = w.describe;`,
				`export const test = w.test;`,
				`export const it = w.it;`,
			].join("\n");
		},
		transform(code, id) {
			if (!SUITE_BUNDLE.test(id.split("?")[0])) return;
			let section = "mod";
			let rewritten = 0;
			const out = code.split("\n").map((line) => {
				const marker = /^\/\/ src\/driver-test-suite\/(?:tests\/)?([\w.-]+)\.ts$/.exec(line);
				if (marker) {
					section = marker[1];
					return line;
				}
				if (/^import .* from "vitest";$/.test(line)) {
					rewritten++;
					seenFiles.add(section);
					return line.replace(/from "vitest";$/, `from "${VIRTUAL}${section}";`);
				}
				return line;
			});
			if (rewritten === 0) {
				throw new Error("conformance-suite-skip: no vitest import found in the suite bundle; has rivetkit changed?");
			}
			return { code: out.join("\n"), map: null };
		},
	};
}
