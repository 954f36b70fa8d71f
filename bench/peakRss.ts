/**
 * Loaded with `node --import` by the start-up figures (`startup.ts`): writes
 * the process's peak RSS in KiB to $BENCH_PEAK_RSS_FILE as the process exits.
 */
import { writeFileSync } from "node:fs"

const file = process.env["BENCH_PEAK_RSS_FILE"]
if (file !== undefined) process.on("exit", () => writeFileSync(file, String(process.resourceUsage().maxRSS)))
