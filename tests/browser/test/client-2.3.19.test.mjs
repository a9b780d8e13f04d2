// rivetkit 2.3.19's browser client in Chromium against seed-server over HTTPS.
import { clientSuite } from "./suite.mjs";

clientSuite({ version: "2.3.19", page: "client-2319" });
