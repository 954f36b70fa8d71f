/**
 * Running the command line: in-process through `runCli` with captured
 * output and a given environment, or as the built `node dist/main.js` binary.
 */
import { NodeFileSystem, NodePath, NodeTerminal } from "@effect/platform-node"
import { ConfigProvider, Effect, Layer, Option, Ref } from "effect"
import { runCli } from "../../src/cli/Commands.js"
import { ClientOutput } from "../../src/cli/Output.js"
import type { DaemonSettings } from "../../src/config/DaemonConfig.js"
import { cleanEnv, runBinary } from "./DaemonProcess.js"
import { TEST_TOKEN } from "./TestDaemon.js"

export interface Ran {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

export interface RanDaemon extends Ran {
  /** What `termfleet daemon` would have run with, had it been given the go. */
  readonly settings: Option.Option<DaemonSettings>
}

/**
 * `termfleet <argv>` in this process with only `env` as its environment and
 * its output captured; `termfleet daemon` stops once its settings are read.
 */
export const cliIn = (env: Readonly<Record<string, string>>, argv: ReadonlyArray<string>): Effect.Effect<RanDaemon> =>
  Effect.gen(function*() {
    const stdout: Array<string> = []
    const stderr: Array<string> = []
    const output = Layer.succeed(ClientOutput, {
      stdout: (text) => Effect.sync(() => void stdout.push(text)),
      stderr: (text) => Effect.sync(() => void stderr.push(text)),
      columns: Effect.succeed(undefined)
    })
    const settings = yield* Ref.make(Option.none<DaemonSettings>())
    const code = yield* runCli(argv, (given) => Ref.set(settings, Option.some(given))).pipe(
      Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env)))),
      Effect.provide(Layer.mergeAll(output, NodeFileSystem.layer, NodePath.layer, NodeTerminal.layer))
    )
    return { code, stdout: stdout.join(""), stderr: stderr.join(""), settings: yield* Ref.get(settings) }
  })

/** `termfleet <argv>` in this process, its output captured, with `env` (and nothing else) as its environment. */
export const cliWith = (env: Readonly<Record<string, string>>, ...argv: ReadonlyArray<string>): Effect.Effect<Ran> =>
  Effect.map(cliIn(env, argv), ({ code, stderr, stdout }) => ({ code, stdout, stderr }))

/** `termfleet <argv>` in this process, with the test daemons' token. */
export const cli = (...argv: ReadonlyArray<string>): Effect.Effect<Ran> => cliWith({ TERMFLEET_TOKEN: TEST_TOKEN }, ...argv)

/** `node dist/main.js <argv>` as a user runs it, with the test daemons' token. */
export const binary = (...argv: ReadonlyArray<string>) => runBinary(argv, cleanEnv({ TERMFLEET_TOKEN: TEST_TOKEN }))
