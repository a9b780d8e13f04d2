import { SeedServer, VERSIONS, collector, openRawWebSocket, sleep } from "./lib/harness.mjs";
const s = new SeedServer(); await s.start();
const [v215, v2033] = VERSIONS;
const mode = process.argv[2];
if (mode.includes("old")) {
  const c = v2033.mod.createClient({ endpoint: s.endpoint, encoding: "json" });
  const h = c.counter.getOrCreate(["x"]); await h.increment(1);
  if (mode.includes("conn")) { const conn = h.connect(); await conn.increment(1); await conn.dispose(); }
  await c.dispose();
}
if (mode.includes("restart")) await s.restart();
const c = v215.mod.createClient({ endpoint: s.endpoint, encoding: "json" });
const conn = c.counter.getOrCreate(["live"]).connect();
const counts = collector(); conn.on("count", counts.push);
console.log("inc", await conn.increment(1));
await sleep(300); console.log("events", counts.items);
await conn.dispose(); await c.dispose(); await s.stop();
