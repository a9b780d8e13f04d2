// A React page on @rivetkit/react 2.3.11 (its own rivetkit client, 2.3.11): one counter actor
// through createRivetKit/useActor, its count shown from the `count` event.
// Query: ?endpoint=<seed-server URL>&key=<counter key>.
import { createRivetKit } from "@rivetkit/react";
import { useState } from "react";
import { createRoot } from "react-dom/client";

const query = new URLSearchParams(location.search);
const { useActor } = createRivetKit({ endpoint: query.get("endpoint") });

function Counter({ id }) {
	const counter = useActor({ name: "counter", key: [id] });
	const [count, setCount] = useState(null);
	const [reply, setReply] = useState(null);
	const [renders, setRenders] = useState(0);
	counter.useEvent("count", (value) => {
		setCount(value);
		setRenders((n) => n + 1);
	});
	const increment = () => {
		counter.connection.increment(1).then(setReply, (error) => setReply(`error: ${error.message}`));
	};
	return (
		<main>
			<p>
				status <span id="status">{counter.connStatus}</span>, connected{" "}
				<span id="connected">{String(counter.isConnected)}</span>
			</p>
			<p>
				count <span id="count">{count === null ? "none" : String(count)}</span> (events{" "}
				<span id="events">{renders}</span>, last reply <span id="reply">{reply === null ? "none" : String(reply)}</span>)
			</p>
			<button id="increment" type="button" disabled={!counter.isConnected} onClick={increment}>
				+1
			</button>
		</main>
	);
}

createRoot(document.getElementById("root")).render(<Counter id={query.get("key")} />);
window.ready = true;
