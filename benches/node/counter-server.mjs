// The official TypeScript RivetKit server (rivetkit 2.1.5) with the same counter actor as
// examples/seed, for benches/run.sh. Usage: node counter-server.mjs --port P --data-dir D
import { actor, setup } from "rivetkit";

const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};

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

const registry = setup({
  use: { counter },
  managerPort: Number(opt("--port", "6420")),
  storagePath: opt("--data-dir", "/tmp/rivetkit-ts-bench"),
  noWelcome: true,
});
registry.start();
