// The official browser build of rivetkit 2.3.19's client, with the scenarios on `window`.
import * as rivetkit from "rivetkit-2319/client";
import { install } from "./scenarios.mjs";

install(rivetkit, "2.3.19");
