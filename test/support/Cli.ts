/**
 * Running the client commands: in-process through `runClient` with captured
 * output, or as the built `node dist/main.js` binary.
 */
import { Effect, Layer } from "effect"
import { execFile } from "node:child_process"
import { existsSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { type ClientCommand, isClientCommand } from "../../src/cli/Args.js"
import { ClientOutput } from "../../src/cli/Output.js"
import { runClient } from "../../src/cli/Client.js"
import { TEST_TOKEN } from "./TestDaemon.js"

export interface Ran {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/** `termfleet <argv>` in this process, its output captured, with the test daemons' token. */
export const cli = (...argv: ReadonlyArray<string>): Effect.Effect<Ran> => cliWith({ TERMFLEET_TOKEN: TEST_TOKEN }, ...argv)

export const cliWith = (env: Readonly<Record<string, string>>, ...argv: ReadonlyArray<string>): Effect.Effect<Ran> =>
  Effect.suspend(() => {
    const [command, ...rest] = argv
    if (!isClientCommand(command)) return Effect.die(`not a client command: ${command}`)
    const stdout: Array<string> = []
    const stderr: Array<string> = []
    const output = Layer.succeed(ClientOutput, {
      stdout: (text) => Effect.sync(() => void stdout.push(text)),
      stderr: (text) => Effect.sync(() => void stderr.push(text)),
      columns: Effect.succeed(undefined)
    })
    return runClient(command satisfies ClientCommand, rest, env).pipe(
      Effect.provide(output),
      Effect.map((code) => ({ code, stdout: stdout.join(""), stderr: stderr.join("") }))
    )
  })

export const MAIN = fileURLToPath(new URL("../../dist/main.js", import.meta.url))

export const requireBuild = () => {
  if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run 'npm run build' first ('make test' does)`)
}

/** Runs a program without blocking this process (the daemon under test lives in it); clients get the test token. */
export const run = (file: string, args: ReadonlyArray<string>): Effect.Effect<Ran> =>
  Effect.async((resume) => {
    const env: NodeJS.ProcessEnv = { ...process.env, TERMFLEET_TOKEN: TEST_TOKEN }
    delete env["TERMFLEET_URL"]
    execFile(file, [...args], { env, timeout: 15_000 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === "number" ? error.code : -1
      resume(Effect.succeed({ code, stdout, stderr }))
    })
  })

/** `node dist/main.js <argv>`. */
export const binary = (...argv: ReadonlyArray<string>) => run(process.execPath, [MAIN, ...argv])

export const tmux = (socket: string, ...args: ReadonlyArray<string>) => run("tmux", ["-L", socket, ...args])
