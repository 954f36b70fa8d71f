/** `termfleet attach` as a user runs it: the built binary in a pane of a private tmux server, the user's terminal. */
import { Effect } from "effect"
import { existsSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { MAIN } from "./DaemonProcess.js"
import { pollUntil } from "./Poll.js"
import { tempDir } from "./TempDir.js"
import { TEST_TOKEN } from "./TestDaemon.js"
import { privateTmux, tmuxCli } from "./TmuxServer.js"

/**
 * The user's terminal: a pane of a private tmux server (100x30) where sh runs
 * `termfleet attach` against `url`, then writes down how it exited.
 */
export const attachedTerminal = (url: string, sessionId: string) =>
  Effect.gen(function*() {
    const socket = yield* privateTmux
    const exitFile = join(yield* tempDir("tf-attach"), "exit-code")
    // Its arguments are never spliced into the script.
    yield* tmuxCli(
      socket,
      "new-session", "-d", "-s", "user", "-x", "100", "-y", "30", "-e", `TERMFLEET_TOKEN=${TEST_TOKEN}`,
      "sh", "-c", `echo before-attach; "$0" "$1" attach --url "$2" "$3"; echo $? > "$4"; echo after-attach; sleep 100`,
      process.execPath, MAIN, url, sessionId, exitFile
    )
    const screen = tmuxCli(socket, "capture-pane", "-p", "-t", "user")
    // Full screen: the session's own screen replaces what the terminal showed.
    yield* pollUntil(screen, (text) => !text.includes("before-attach"), "the session's screen")
    return {
      screen,
      type: (...keys: ReadonlyArray<string>) => Effect.forEach(keys, (key) => tmuxCli(socket, "send-keys", "-t", "user", ...(key === "Enter" || key === "C-]" ? [key] : ["-l", key])), { discard: true }),
      exitCode: Effect.sync(() => existsSync(exitFile) ? readFileSync(exitFile, "utf8").trim() : "")
    }
  })
