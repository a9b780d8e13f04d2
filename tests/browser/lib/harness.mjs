// What every browser test file needs: a throwaway certificate, seed-server serving HTTPS/WSS
// with it, the test pages bundled for the browser and served from another origin, and
// Chromium (Debian's, driven by playwright-core) trusting the certificate by its key.
import { spawn, spawnSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import http2 from "node:http2";
import https from "node:https";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

import * as esbuild from "esbuild";
import { chromium } from "playwright-core";

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(HERE, "..");

export const STEP_TIMEOUT_MS = Number(process.env.STEP_TIMEOUT_MS ?? 15_000);
export const TEST_TIMEOUT_MS = Number(process.env.TEST_TIMEOUT_MS ?? 60_000);

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

let uniq = 0;
/** A key part no other test of this run uses. */
export function uid(prefix = "k") {
	uniq += 1;
	return `${prefix}-${process.pid}-${Date.now().toString(36)}-${uniq}`;
}

export function freePort() {
	return new Promise((resolve, reject) => {
		const server = net.createServer();
		server.unref();
		server.on("error", reject);
		server.listen(0, "127.0.0.1", () => {
			const { port } = server.address();
			server.close(() => resolve(port));
		});
	});
}

// ---------------------------------------------------------------- certificate

/**
 * A self-signed P-256 certificate for `localhost` and `127.0.0.1` (openssl CLI), and the
 * base64 SHA-256 of its SubjectPublicKeyInfo, which Chromium's
 * `--ignore-certificate-errors-spki-list` takes.
 */
export function makeCertificate(dir) {
	const cert = path.join(dir, "cert.pem");
	const key = path.join(dir, "key.pem");
	const made = spawnSync(
		"openssl",
		[
			"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
			"-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=localhost",
			"-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
		],
		{ encoding: "utf8" },
	);
	if (made.status !== 0) throw new Error(`openssl failed: ${made.stderr}`);
	const pem = fs.readFileSync(cert, "utf8");
	const spki = new crypto.X509Certificate(pem).publicKey.export({ type: "spki", format: "der" });
	return {
		cert,
		key,
		pem,
		keyPem: fs.readFileSync(key, "utf8"),
		spkiHash: crypto.createHash("sha256").update(spki).digest("base64"),
	};
}

// ---------------------------------------------------------------- seed-server

function serverBin() {
	const bin = path.resolve(process.env.SEED_SERVER_BIN ?? path.join(ROOT, "../../target/debug/seed-server"));
	if (!fs.existsSync(bin)) {
		throw new Error(`seed-server not found at ${bin}: build it (cargo build -p seed --bin seed-server) or set SEED_SERVER_BIN`);
	}
	return bin;
}

/** GET `url` trusting `ca`; resolves to the status, or null when nothing answers. */
function probe(url, ca) {
	return new Promise((resolve) => {
		const request = https.get(url, { ca, timeout: 1000 }, (response) => {
			response.resume();
			resolve(response.statusCode);
		});
		request.on("error", () => resolve(null));
		request.on("timeout", () => request.destroy());
	});
}

/**
 * seed-server on 127.0.0.1 with TLS (`--tls-cert`/`--tls-key`), its own data dir and
 * `extraArgs` (e.g. `--inspector-token`).
 */
export class SeedServer {
	constructor(certificate, dir, extraArgs = []) {
		this.certificate = certificate;
		this.extraArgs = extraArgs;
		this.dataDir = path.join(dir, "data");
		this.logPath = path.join(dir, "seed-server.log");
		this.proc = null;
	}

	get endpoint() {
		return `https://127.0.0.1:${this.port}`;
	}

	async start() {
		this.port = await freePort();
		const args = [
			"--host", "127.0.0.1", "--port", String(this.port), "--data-dir", this.dataDir,
			"--tls-cert", this.certificate.cert, "--tls-key", this.certificate.key,
			...this.extraArgs,
		];
		const env = { ...process.env, RUST_LOG: process.env.RUST_LOG ?? "warn" };
		for (const name of ["RIVETKIT_TOKEN", "RIVETKIT_TLS_CERT", "RIVETKIT_TLS_KEY", "RIVET_INSPECTOR_TOKEN"]) delete env[name];
		const log = fs.openSync(this.logPath, "a");
		this.proc = spawn(serverBin(), args, { stdio: ["ignore", log, log], env });
		fs.closeSync(log);
		let exited = null;
		this.proc.once("exit", (code, signal) => {
			exited = { code, signal };
		});
		const deadline = Date.now() + 30_000;
		for (;;) {
			if (exited) throw new Error(`seed-server exited during start-up (${JSON.stringify(exited)}):\n${this.logTail()}`);
			if ((await probe(`${this.endpoint}/health`, this.certificate.pem)) === 200) return this;
			if (Date.now() > deadline) {
				this.proc.kill("SIGKILL");
				throw new Error(`seed-server did not answer GET /health over TLS:\n${this.logTail()}`);
			}
			await sleep(100);
		}
	}

	logTail(lines = 40) {
		try {
			return fs.readFileSync(this.logPath, "utf8").split("\n").slice(-lines).join("\n");
		} catch {
			return "(no log)";
		}
	}

	async stop() {
		const proc = this.proc;
		if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
		const exited = new Promise((resolve) => proc.once("exit", resolve));
		proc.kill("SIGTERM");
		const timer = setTimeout(() => proc.kill("SIGKILL"), 5000);
		await exited;
		clearTimeout(timer);
	}
}

// ---------------------------------------------------------------- pages

/**
 * Bundles each `pages/<name>.(mjs|jsx)` entry for the browser into `outDir` with an HTML page
 * `<name>.html` that loads it.
 */
export async function bundlePages(names, outDir) {
	fs.mkdirSync(outDir, { recursive: true });
	for (const name of names) {
		const entry = ["mjs", "jsx"].map((ext) => path.join(ROOT, "pages", `${name}.${ext}`)).find(fs.existsSync);
		await esbuild.build({
			entryPoints: [entry],
			outfile: path.join(outDir, `${name}.js`),
			bundle: true,
			platform: "browser",
			format: "esm",
			target: "es2022",
			jsx: "automatic",
			define: { "process.env.NODE_ENV": '"production"' },
			logLevel: "error",
		});
		fs.writeFileSync(
			path.join(outDir, `${name}.html`),
			`<!doctype html>\n<html><head><meta charset="utf-8"><title>${name}</title></head>` +
				`<body><div id="root"></div><script type="module" src="/${name}.js"></script></body></html>\n`,
		);
	}
}

const TYPES = { ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8" };

/**
 * Serves the files of `dir` over HTTPS (HTTP/2 with HTTP/1.1 fallback) on `localhost`, a
 * different origin from seed-server's `https://127.0.0.1:{port}`: every client request is
 * cross-origin and goes through CORS.
 */
export async function servePages(dir, certificate) {
	const port = await freePort();
	const server = http2.createSecureServer(
		{ cert: certificate.pem, key: certificate.keyPem, allowHTTP1: true },
		(request, response) => {
			const name = path.basename(new URL(request.url, "https://localhost").pathname);
			const file = path.join(dir, name);
			if (!name || !fs.existsSync(file)) {
				response.writeHead(404).end("not found");
				return;
			}
			response.writeHead(200, { "content-type": TYPES[path.extname(name)] ?? "application/octet-stream" });
			response.end(fs.readFileSync(file));
		},
	);
	await new Promise((resolve) => server.listen(port, "127.0.0.1", resolve));
	return {
		origin: `https://localhost:${port}`,
		close: () => new Promise((resolve) => server.close(resolve)),
		closeAll: () => {
			server.close();
		},
	};
}

// ---------------------------------------------------------------- browser

export const CHROMIUM = process.env.CHROMIUM_BIN ?? "/usr/bin/chromium";

/** Debian's Chromium, headless, trusting `certificate` (by its key) and nothing else new. */
export async function launchBrowser(certificate, profileDir, extraArgs = []) {
	fs.mkdirSync(profileDir, { recursive: true });
	return chromium.launchPersistentContext(profileDir, {
		executablePath: CHROMIUM,
		headless: true,
		args: [
			"--headless",
			"--no-sandbox",
			"--disable-gpu",
			"--disable-background-networking",
			"--disable-component-update",
			"--no-first-run",
			"--disable-quic",
			"--disable-sync",
			`--ignore-certificate-errors-spki-list=${certificate.spkiHash}`,
			// e.g. CHROMIUM_EXTRA_ARGS=--disable-http2 to compare with HTTP/1.1 only
			...extraArgs,
			...(process.env.CHROMIUM_EXTRA_ARGS ?? "").split(" ").filter(Boolean),
		],
	});
}

/**
 * Records, through the DevTools protocol, the HTTP version Chromium used for every response
 * (`h2`, `http/1.1`) by URL, and the WebSocket handshakes it made.
 */
export async function recordProtocols(context, page) {
	const cdp = await context.newCDPSession(page);
	const responses = [];
	const webSockets = [];
	cdp.on("Network.responseReceived", ({ response }) => {
		responses.push({ url: response.url, protocol: response.protocol, status: response.status });
	});
	cdp.on("Network.webSocketHandshakeResponseReceived", ({ response }) => {
		webSockets.push({ status: response.status });
	});
	await cdp.send("Network.enable");
	return { responses, webSockets };
}

/**
 * Everything a test file shares: certificate, seed-server (TLS), the bundled pages served from
 * another origin, and one Chromium (started with `chromiumArgs` too; seed-server with
 * `serverArgs` too). Call from a top-level `before`; `close()` in `after`.
 */
export async function setUp(pageNames, { chromiumArgs = [], serverArgs = [] } = {}) {
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rivetkit-browser-"));
	const certificate = makeCertificate(dir);
	const server = await new SeedServer(certificate, dir, serverArgs).start();
	const pagesDir = path.join(dir, "pages");
	await bundlePages(pageNames, pagesDir);
	const pages = await servePages(pagesDir, certificate);
	const browser = await launchBrowser(certificate, path.join(dir, "profile"), chromiumArgs);
	const consoleLines = [];
	return {
		dir,
		certificate,
		server,
		pages,
		browser,
		consoleLines,
		/** Opens `name.html` in a new tab and waits until its module ran (`window.ready`). */
		async open(name, query = "") {
			const page = await browser.newPage();
			page.on("console", (message) => consoleLines.push(`[${name}] ${message.type()}: ${message.text()}`));
			page.on("pageerror", (error) => consoleLines.push(`[${name}] pageerror: ${error.message}`));
			const protocols = await recordProtocols(browser, page);
			await page.goto(`${pages.origin}/${name}.html${query}`);
			await page.waitForFunction(() => window.ready === true, null, { timeout: STEP_TIMEOUT_MS });
			return { page, protocols };
		},
		async close() {
			await browser.close().catch(() => {});
			pages.closeAll();
			await server.stop();
			if (process.env.KEEP_DATA !== "1") fs.rmSync(dir, { recursive: true, force: true });
		},
		/** Server log and browser console, for failure messages. */
		diagnostics() {
			return `--- browser console\n${consoleLines.slice(-40).join("\n")}\n--- seed-server log\n${server.logTail()}`;
		},
	};
}
