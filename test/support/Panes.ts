/**
 * Sessions of a test daemon as the live-terminal tests look at them: made
 * through its REST API, then read straight from its tmux server (the pane's
 * screen and size as tmux has them), to compare with what a viewer shows.
 */
import { Effect } from "effect"
import type { TestDaemon } from "./TestDaemon.js"
import { tmuxCli } from "./TmuxServer.js"

export const request = (daemon: TestDaemon, method: string, path: string, body?: unknown) =>
  Effect.promise(async () => {
    const response = await fetch(daemon.httpUrl(path), {
      method,
      headers: { ...daemon.authHeaders, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) })
    })
    const text = await response.text()
    return { status: response.status, body: text.length > 0 ? JSON.parse(text) : null }
  })

export const newSession = (daemon: TestDaemon, command: string) =>
  Effect.map(request(daemon, "POST", "/sessions", { command }), (created) => created.body.sessionId as string)

/** The tmux name of a session created without a title is its command's; sessions here are found by their id option. */
export const tmuxTarget = (daemon: TestDaemon, sessionId: string) =>
  Effect.map(
    tmuxCli(daemon.settings.tmuxSocket, "list-sessions", "-F", "#{session_id} #{@tf_id}"),
    (out) => out.split("\n").find((line) => line.endsWith(` ${sessionId}`))!.split(" ")[0]!
  )

export const paneSize = (daemon: TestDaemon, target: string) =>
  Effect.map(tmuxCli(daemon.settings.tmuxSocket, "display-message", "-p", "-t", target, "#{pane_width}x#{pane_height}"), (s) => s.trim())

export const screenOf = (daemon: TestDaemon, target: string) =>
  Effect.map(
    tmuxCli(daemon.settings.tmuxSocket, "capture-pane", "-p", "-t", target),
    (text) => text.replace(/\n$/, "").split("\n").map((row) => row.trimEnd())
  )

/**
 * A shell command printing colours (red, bold on blue), then, once it reads
 * a line, a full-screen program's screen: alternate screen, cleared, text
 * placed by the cursor ("full screen", "bottom"), application cursor keys.
 */
export const COLOURS_THEN_FULL_SCREEN = `sh -c "${[
  "printf '\\033[31mred\\033[0m \\033[1;44mbold on blue\\033[0m plain\\n'",
  "printf 'second line\\n'",
  "read go",
  "printf '\\033[?1049h\\033[?1h\\033[2J\\033[5;10Hfull screen \\033[7minverse\\033[0m'",
  "printf '\\033[12;3Hbottom'",
  "read done"
].join("; ").replaceAll('"', '\\"')}"`

/**
 * A shell command printing `line-1.` to `line-<n>.` once it reads a line, a hundred at a time 50 ms apart: the output flows for
 * a while, so a viewer that leaves after the first lines leaves while it flows (a pipe-fed pane printed all
 * of them at once). Then it waits.
 */
export const numberedLines = (n: number) =>
  `sh -c 'read go; i=0; while [ $i -lt ${n} ]; do i=$((i+1)); echo line-$i.; [ $((i % 100)) -ne 0 ] || sleep 0.05; done; read done'`

/** How often each `line-<i>.` occurs in `text`. */
export const lineCounts = (text: string): ReadonlyMap<string, number> => {
  const counts = new Map<string, number>()
  for (const match of text.matchAll(/line-(\d+)\./g)) counts.set(match[1]!, (counts.get(match[1]!) ?? 0) + 1)
  return counts
}
