// Teardown after the whole run: kill any conformance-server still listed in
// $CONFORMANCE_OUT_DIR/pids (by pid, only if it is still a conformance-server)
// and remove the scratch directory holding the data dirs.
import fs from "node:fs";
import path from "node:path";

export function killLeftoverServers(outDir) {
	const dir = path.join(outDir, "pids");
	let killed = 0;
	for (const name of fs.existsSync(dir) ? fs.readdirSync(dir) : []) {
		const pid = Number(name);
		try {
			const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8");
			if (cmd.includes("conformance-server")) {
				process.kill(pid, "SIGKILL");
				killed++;
			}
		} catch {}
		fs.rmSync(path.join(dir, name), { force: true });
	}
	return killed;
}

export default function setup() {
	return () => {
		const killed = killLeftoverServers(process.env.CONFORMANCE_OUT_DIR);
		if (killed) console.warn(`[conformance] killed ${killed} leftover conformance-server process(es)`);
		const runDir = process.env.CONFORMANCE_RUN_DIR;
		if (runDir && !process.env.CONFORMANCE_KEEP_RUN_DIR) fs.rmSync(runDir, { recursive: true, force: true });
	};
}
