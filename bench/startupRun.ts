/**
 * `npm run bench:startup`: the start-up and footprint figures alone (about
 * a minute), as `npm run bench` measures them; prints their table rows.
 */
import { measureStartup, startupRows } from "./startup.js"
import { hrNow, killEverything } from "./support.js"

const started = hrNow()
const log = (line: string) => console.log(`[${((hrNow() - started) / 1000).toFixed(1).padStart(5)} s] ${line}`)

process.on("exit", killEverything)
measureStartup(log).then(
  (results) => {
    console.log(["", "| figure | termfleet | baseline (same run) | termfleet ÷ baseline |", "| --- | --- | --- | --- |",
      ...startupRows(results).map((row) => `| ${row.join(" | ")} |`)].join("\n"))
  },
  (error: unknown) => {
    console.error(`start-up figures failed: ${error instanceof Error ? error.stack ?? error.message : String(error)}`)
    process.exitCode = 1
  }
)
