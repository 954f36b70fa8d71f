#!/usr/bin/env node
/**
 * `termfleet <command>`. For `daemon`, V8's young generation is held small
 * before any other module is evaluated (`runtime/YoungGeneration.ts`); static
 * imports would be evaluated first, so the program is imported after.
 */
import { holdYoungGeneration } from "./runtime/YoungGeneration.js"

// A client command ends soon after its start: held, it would only spend more time collecting.
if (process.argv[2] === "daemon") holdYoungGeneration()
await import("./Program.js")
