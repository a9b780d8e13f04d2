import { SeedServer, VERSIONS, collector, openRawWebSocket, sleep, frameText } from "./lib/harness.mjs";
const s = new SeedServer(); await s.start();
const steps = process.argv[2].split(",");
const enc = process.argv[3] ?? "bare";
const v = VERSIONS[0];
const t0 = Date.now(); const log = (...a) => console.log(Date.now() - t0, ...a);
if (steps.includes("write")) {
  const c = v.mod.createClient({ endpoint: s.endpoint, encoding: enc });
  const room = c.chatRoom.getOrCreate(["o", "r"]);
  await room.sendMessage("s1");
  if (steps.includes("conn")) { const conn = room.connect(); await conn.sendMessage("c2"); await conn.dispose(); }
  if (steps.includes("ws")) {
    const ws = await openRawWebSocket(v, room, "stream");
    const f = collector(); ws.addEventListener("message", (e) => f.push(frameText(e.data)));
    ws.send("raw"); await f.wait(1, "echo"); ws.close();
  }
  await c.dispose();
  log("write done");
}
if (steps.includes("restart")) { await s.restart(); log("restarted"); }
const c = v.mod.createClient({ endpoint: s.endpoint, encoding: enc });
const conn = c.counter.getOrCreate(["live"]).connect();
const counts = collector(); conn.on("count", counts.push);
log("inc", await conn.increment(1));
await sleep(300); log("events", counts.items);
await conn.dispose(); await c.dispose(); await s.stop();
