// What the browser tests do with an official client, as functions on `window.scenarios` that
// the test calls through `page.evaluate` and whose plain-data results it checks.

const STEP_MS = 10_000;

function within(promise, label, ms = STEP_MS) {
	let timer;
	const timeout = new Promise((_, reject) => {
		timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${label}`)), ms);
	});
	return Promise.race([Promise.resolve(promise), timeout]).finally(() => clearTimeout(timer));
}

async function until(predicate, label, ms = STEP_MS) {
	const deadline = Date.now() + ms;
	while (!predicate()) {
		if (Date.now() > deadline) throw new Error(`not met after ${ms} ms: ${label()}`);
		await new Promise((resolve) => setTimeout(resolve, 20));
	}
}

export function install(rivetkit, version) {
	const describe = (error) => ({
		isActorError: error instanceof rivetkit.ActorError,
		group: error?.group ?? null,
		code: error?.code ?? null,
		message: String(error?.message ?? error),
	});
	/** How `promise` settles: `{ rejected: describe(error) }`, `{ resolved }` or `{ timedOut }`. */
	const settle = (promise, label, ms) =>
		within(promise, label, ms).then(
			(resolved) => ({ resolved }),
			(error) =>
				String(error?.message).startsWith("timed out after") ? { timedOut: label } : { rejected: describe(error) },
		);
	const withClient = async ({ endpoint, encoding }, body) => {
		const client = rivetkit.createClient({ endpoint, encoding });
		try {
			return await body(client);
		} finally {
			await within(client.dispose(), "client.dispose()").catch(() => {});
		}
	};

	window.scenarios = {
		version,

		/** Stateless actions (HTTP POSTs): two increments, then the count. */
		increment: (options) =>
			withClient(options, async (client) => {
				const counter = client.counter.getOrCreate([options.key]);
				const first = await within(counter.increment(2), "increment(2)");
				const second = await within(counter.increment(3), "increment(3)");
				const count = await within(counter.getCount(), "getCount()");
				return { first, second, count };
			}),

		/** A connection (WebSocket) gets the `count` event of its own call and of another caller's. */
		event: (options) =>
			withClient(options, async (client) => {
				const conn = client.counter.getOrCreate([options.key]).connect();
				const events = [];
				conn.on("count", (count) => events.push(count));
				const own = await within(conn.increment(1), "conn.increment(1)");
				const other = await within(client.counter.getOrCreate([options.key]).increment(10), "stateless increment(10)");
				await until(
					() => events.length >= 2,
					() => `two count events, have ${JSON.stringify(events)}`,
				);
				await within(conn.dispose(), "conn.dispose()");
				return { own, other, events };
			}),

		/** Raw HTTP to chatRoom's onRequest through `handle.fetch`: GET /history, and a POST with a body. */
		rawFetch: (options) =>
			withClient(options, async (client) => {
				const chat = client.chatRoom.getOrCreate([options.key]);
				await within(chat.sendMessage("hello from the browser"), "sendMessage()");
				const history = await within(chat.fetch("history"), "fetch('history')");
				const posted = await within(
					chat.fetch("nowhere", { method: "POST", body: "some bytes", headers: { "content-type": "text/plain" } }),
					"fetch('nowhere', POST)",
				);
				return {
					historyStatus: history.status,
					history: await history.json(),
					postedStatus: posted.status,
					posted: await posted.text(),
				};
			}),

		/** Raw WebSocket to chatRoom's onWebSocket `stream`: a text frame comes back and is kept. */
		rawWebSocket: (options) =>
			withClient(options, async (client) => {
				const chat = client.chatRoom.getOrCreate([options.key]);
				const ws = await within(chat.webSocket("stream"), "webSocket('stream')");
				const received = [];
				ws.addEventListener("message", (event) => received.push(String(event.data)));
				if (ws.readyState !== 1) {
					await within(
						new Promise((resolve, reject) => {
							ws.addEventListener("open", resolve, { once: true });
							ws.addEventListener("close", (event) => reject(new Error(`closed before open: ${event.code} ${event.reason}`)), { once: true });
						}),
						"raw WebSocket open",
					);
				}
				ws.send("over a raw socket");
				await until(() => received.length >= 1, () => `a frame back, have ${JSON.stringify(received)}`);
				const closed = new Promise((resolve) => ws.addEventListener("close", (event) => resolve(event.code), { once: true }));
				ws.close(1000);
				const closeCode = await within(closed, "raw WebSocket close");
				const history = await within(chat.getHistory(), "getHistory()");
				return { received, closeCode, history };
			}),

		/** chatRoom refuses an empty authToken on a stateless call; nothing lands. */
		paramsRejectedStateless: (options) =>
			withClient(options, async (client) => {
				const refused = client.chatRoom.getOrCreate([options.key], { params: { authToken: "" } });
				const read = await settle(refused.getHistory(), "getHistory() with an empty authToken");
				const write = await settle(refused.sendMessage("must not land"), "sendMessage() with an empty authToken");
				const accepted = client.chatRoom.getOrCreate([options.key], { params: { authToken: "good" } });
				const history = await within(accepted.getHistory(), "getHistory() with a good authToken");
				return { read, write, history };
			}),

		/** chatRoom refuses an empty authToken on a connection: its call fails, `onError` hears why. */
		paramsRejectedConnection: (options) =>
			withClient(options, async (client) => {
				const conn = client.chatRoom.getOrCreate([options.key], { params: { authToken: "" } }).connect();
				const errors = [];
				conn.onError((error) => errors.push(describe(error)));
				const queued = await settle(conn.sendMessage("must not land"), "conn.sendMessage() with an empty authToken");
				await within(conn.dispose(), "conn.dispose()").catch(() => {});
				const history = await within(client.chatRoom.getOrCreate([options.key]).getHistory(), "getHistory()");
				return { queued, errors, history };
			}),
	};
	window.ready = true;
}
