// node:test reporter that tallies leaf tests per "[version/encoding]" name prefix and
// prints a small pass/fail matrix when the run ends.
export default async function* matrixReporter(source) {
	const rows = new Map();
	const row = (tag) => {
		if (!rows.has(tag)) rows.set(tag, { pass: 0, fail: 0, skip: 0, failed: [] });
		return rows.get(tag);
	};
	for await (const event of source) {
		if (event.type !== "test:pass" && event.type !== "test:fail") continue;
		const data = event.data;
		if (data.details?.type === "suite") continue;
		const m = /^\[([^\]]+)\]\s*(.*)$/.exec(data.name);
		const tag = m ? m[1] : "(shared)";
		const r = row(tag);
		if (data.skip || data.todo) r.skip += 1;
		else if (event.type === "test:pass") r.pass += 1;
		else {
			r.fail += 1;
			const file = data.file ? data.file.split("/").pop() : "?";
			r.failed.push(`${file}: ${m ? m[2] : data.name}`);
		}
	}
	const order = [...rows.keys()].sort();
	let out = "\n# ---- results per client version / encoding ----\n";
	out += `# ${"combo".padEnd(16)} ${"pass".padStart(5)} ${"fail".padStart(5)} ${"skip".padStart(5)}\n`;
	for (const tag of order) {
		const r = rows.get(tag);
		out += `# ${tag.padEnd(16)} ${String(r.pass).padStart(5)} ${String(r.fail).padStart(5)} ${String(r.skip).padStart(5)}\n`;
	}
	for (const tag of order) {
		for (const f of rows.get(tag).failed) out += `# FAILED [${tag}] ${f}\n`;
	}
	yield out;
}
