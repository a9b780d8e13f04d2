// The official browser build of rivetkit 2.1.5's client, with the scenarios on `window`.
import * as rivetkit from "rivetkit-215/client";
import { install } from "./scenarios.mjs";

install(rivetkit, "2.1.5");
