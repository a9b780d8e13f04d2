// rivetkit 2.1.5's browser client in Chromium with HTTP/2 turned off: HTTPS and WSS over
// HTTP/1.1 (rivetkit 2.3's browser client cannot run this way: it streams request bodies).
import { clientSuite } from "./suite.mjs";

clientSuite({ version: "2.1.5", page: "client-215", http1: true });
