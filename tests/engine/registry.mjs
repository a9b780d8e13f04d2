// The guide's counter actor, served by the official rivetkit registry connected to a Rivet
// Engine as its envoy (pool "default"): the engine routes every client request to it.
// Usage: node registry.mjs ENGINE_ENDPOINT
// Prints "READY" once the envoy is registered with the engine.
import { actor, setup, UserError } from "rivetkit";

const [endpoint] = process.argv.slice(2);
if (!endpoint) {
  console.error("usage: node registry.mjs ENGINE_ENDPOINT");
  process.exit(2);
}

const counter = actor({
  state: { count: 0 },
  actions: {
    increment: (c, x) => {
      c.state.count += x;
      c.broadcast("newCount", c.state.count);
      return c.state.count;
    },
    getCount: (c) => c.state.count,
    // A user error with structured details, for the client's error decoding.
    failWith: (c, code, detail) => {
      throw new UserError(`refused: ${detail}`, { code, metadata: { detail, count: c.state.count } });
    },
  },
});

const registry = setup({
  use: { counter },
  endpoint,
  noWelcome: true,
  // The first-party services host is not needed here.
  startServices: false,
});
await registry.startAndWait();
console.log("READY");
