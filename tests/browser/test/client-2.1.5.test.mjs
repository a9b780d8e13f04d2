// rivetkit 2.1.5's browser client in Chromium against seed-server over HTTPS.
import { clientSuite } from "./suite.mjs";

clientSuite({ version: "2.1.5", page: "client-215" });
