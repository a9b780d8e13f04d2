// Debug aid: WS_TRACE=1 ./run.sh (or `node --import ./lib/ws-trace.mjs script.mjs`) appends
// every WebSocket frame the clients send and receive to $WS_TRACE_FILE (default
// $TMPDIR/rivetkit-ws-trace.log), with a millisecond clock.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
const FILE = process.env.WS_TRACE_FILE ?? path.join(os.tmpdir(), "rivetkit-ws-trace.log");
const Base = globalThis.WebSocket;
const t0 = Date.now();
let n = 0;
const show = (data) => {
	if (typeof data === "string") return data.length > 300 ? `${data.slice(0, 300)}…` : data;
	const bytes = data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array(data.buffer ?? data);
	return `hex ${Buffer.from(bytes.slice(0, 120)).toString("hex")}${bytes.length > 120 ? "…" : ""}`;
};
globalThis.WebSocket = class TracedWebSocket extends Base {
	constructor(url, protocols) {
		super(url, protocols);
		const id = ++n;
		const log = (...a) => fs.appendFileSync(FILE, `[${process.pid} ws#${id} +${Date.now() - t0}ms] ${a.join(" ")}\n`);
		log("open", String(url), JSON.stringify(protocols));
		this.addEventListener("open", () => log("opened protocol=", this.protocol));
		this.addEventListener("message", (e) => log("S→C", show(e.data)));
		this.addEventListener("close", (e) => log("closed", e.code, JSON.stringify(e.reason)));
		const send = this.send.bind(this);
		this.send = (data) => {
			log("C→S", show(data));
			return send(data);
		};
	}
};
