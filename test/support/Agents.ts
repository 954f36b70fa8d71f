/**
 * The stand-in agents of `test/agents/` (they print what the real agents
 * print and call their hooks with the documented payloads), a home folder
 * with termfleet's hooks installed for them, and the built binary run with
 * an environment and standard input of the test's choosing.
 */
import { Effect, type Scope } from "effect"
import { execFile } from "node:child_process"
import { writeFile } from "node:fs/promises"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { cleanEnv, type Finished, MAIN, requireBuild } from "./DaemonProcess.js"
import { tempDir } from "./TempDir.js"

export const STAND_INS = fileURLToPath(new URL("../agents/", import.meta.url))

/**
 * `node dist/main.js <args>` with `env` over the test's environment (without
 * its TERMFLEET_* settings, nor the tmux pane it may run in), `input` on stdin.
 */
export const termfleetWith = (
  env: Readonly<Record<string, string>>,
  args: ReadonlyArray<string>,
  input = ""
): Effect.Effect<Finished> =>
  Effect.async((resume) => {
    requireBuild()
    const { TMUX: _, TMUX_PANE: __, ...base } = cleanEnv(env)
    const child = execFile(process.execPath, [MAIN, ...args], { env: base, timeout: 15_000 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === "number" ? error.code : null
      resume(Effect.succeed({ code, signal: error?.signal ?? null, stdout, stderr }))
    })
    child.stdin?.end(input)
  })

/** A home folder of its own, with `termfleet hooks install --agent <agent>` done in it. */
export const homeWithHooks = (agent: "claude" | "codex"): Effect.Effect<string, Error, Scope.Scope> =>
  Effect.gen(function*() {
    const home = yield* tempDir("tf-home")
    const installed = yield* termfleetWith({ HOME: home }, ["hooks", "install", "--agent", agent])
    if (installed.code !== 0) return yield* Effect.fail(new Error(`hooks install failed: ${installed.stderr}`))
    return home
  })

/** The shell line a session runs the stand-in with, in `home`. */
export const standIn = (agent: "claude" | "codex", home: string) => `HOME='${home}' '${join(STAND_INS, agent)}'`

/** A daemon started with a given token keeps none in its state folder; hooks find it there, as with a generated one. */
export const keepToken = (stateDir: string, token: string) =>
  Effect.promise(() => writeFile(join(stateDir, "token"), `${token}\n`, { mode: 0o600 }))
