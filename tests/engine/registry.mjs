// The guide's counter actor, served by the official rivetkit registry connected to a Rivet
// Engine as its envoy (pool "default"): the engine routes every client request to it.
// Usage: node registry.mjs ENGINE_ENDPOINT
// Prints "READY" once the envoy is registered with the engine.
import { actor, queue, setup, UserError } from "rivetkit";

const [endpoint] = process.argv.slice(2);
if (!endpoint) {
  console.error("usage: node registry.mjs ENGINE_ENDPOINT");
  process.exit(2);
}

const counter = actor({
  state: { count: 0 },
  queues: { jobs: queue() },
  // Raw HTTP: the path and query the actor saw, and the count.
  onRequest: (c, request) => {
    const url = new URL(request.url);
    return Response.json({ path: url.pathname, query: url.search, count: c.state.count });
  },
  // Raw WebSocket: echoes every text message with the count.
  onWebSocket: (c, websocket) => {
    websocket.addEventListener("message", (event) => {
      websocket.send(`${event.data}@${c.state.count}`);
    });
  },
  actions: {
    increment: (c, x) => {
      c.state.count += x;
      c.broadcast("newCount", c.state.count);
      return c.state.count;
    },
    getCount: (c) => c.state.count,
    // Takes the next `jobs` message (waiting up to 5 s) and completes it with `{ got: body }`.
    take: async (c) => {
      const message = await c.queue.next({ names: ["jobs"], timeout: 5000, completable: true });
      if (!message) return null;
      await message.complete({ got: message.body });
      return message.body;
    },
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
