/**
 * Running the client commands: in-process through `runClient` with captured
 * output, or as the built `node dist/main.js` binary.
 */
import { Effect, Layer } from "effect"
import { type ClientCommand, isClientCommand } from "../../src/cli/Args.js"
import { ClientOutput } from "../../src/cli/Output.js"
import { runClient } from "../../src/cli/Client.js"
import { cleanEnv, runBinary } from "./DaemonProcess.js"
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

/** `node dist/main.js <argv>` as a user runs it, with the test daemons' token. */
export const binary = (...argv: ReadonlyArray<string>) => runBinary(argv, cleanEnv({ TERMFLEET_TOKEN: TEST_TOKEN }))
