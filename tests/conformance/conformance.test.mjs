// Runs rivetkit's official driver test suite (rivetkit@2.1.3) against the Rust
// conformance-server: one fresh server + data dir per test (lib/server.mjs),
// real timers, HTTP client only (the inline-client variants need an in-process
// TypeScript registry). Skips come from skips.json (lib/suite-shim.mjs).
import { runDriverTests } from "rivetkit/driver-test-suite";
import { startServer } from "./lib/server.mjs";

runDriverTests({
	start: startServer,
	useRealTimers: true,
	skip: { inline: true },
});
