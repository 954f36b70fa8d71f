/**
 * The idle-cost baseline: the least a change detector with a one-second bound
 * does, and nothing else: one tmux listing of every pane a second, split into
 * fields. No Effect, no cache, no HTTP, no Redis.
 */
import { execFile } from "node:child_process"
import { serveIpc } from "./support.js"

const socket = process.argv[2] ?? ""
const FORMAT = "#{session_name}\t#{pane_pid}\t#{pane_dead}\t#{window_activity}"
let calls = 0
let rows = 0

const tick = () => {
  calls++
  execFile("tmux", ["-L", socket, "list-panes", "-a", "-F", FORMAT], { encoding: "utf8" }, (error, stdout) => {
    if (error === null) rows = stdout.split("\n").filter((line) => line !== "").map((line) => line.split("\t")).length
    setTimeout(tick, 1000)
  })
}
tick()

serveIpc({ calls: () => ({ calls, rows }) })
process.send?.({ id: 0, ready: true })
