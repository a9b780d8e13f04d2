// The guide's counter actor on the official RivetKit server, so the Rust client can be tested
// against the implementation it must interoperate with.
// Usage: node server.mjs PORT DATA_DIR
import { actor, setup } from "rivetkit";

const [port, dataDir] = process.argv.slice(2);
if (!port || !dataDir) {
  console.error("usage: node server.mjs PORT DATA_DIR");
  process.exit(2);
}

const counter = actor({
  state: { count: 0 },
  actions: {
    increment: (c, x) => {
      c.state.count += x;
      c.broadcast("count", c.state.count);
      return c.state.count;
    },
    getCount: (c) => c.state.count,
  },
});

setup({
  use: { counter },
  managerPort: Number(port),
  storagePath: dataDir,
  noWelcome: true,
}).start();
