/**
 * `termfleet <command>`: every command of the command line, in one list.
 *
 * To add a command: declare it with `Command.make(name, { flags and
 * arguments }, handler)` in its module (its handler fails with the errors
 * below to pick its exit code), add it to `commands`, and describe it in the
 * README's "Command line" section. `--help`, completions and env fallbacks
 * come with the declaration.
 *
 * Exit codes: 0 ok, 1 the daemon answered with an error, 2 bad usage or
 * settings, 3 the daemon is not reachable; `wait` adds 4 the session (or its
 * agent) is gone, 5 timed out.
 */
import * as CliConfig from "@effect/cli/CliConfig"
import * as Command from "@effect/cli/Command"
import * as ValidationError from "@effect/cli/ValidationError"
import { Array as Arr, Console, Effect } from "effect"
import { type DaemonSettings, VERSION } from "../config/DaemonConfig.js"
import { daemonFlags } from "../config/DaemonFlags.js"
import { readSettings, type SettingsError } from "../config/Settings.js"
import { attach, end, ls, newSession, output, send, wait, watch } from "./Client.js"
import { ClientOutput, type ClientOutputService } from "./Output.js"

export const ExitCode = { ok: 0, daemonError: 1, usage: 2, unreachable: 3, sessionGone: 4, timedOut: 5, computerGone: 6 } as const

/**
 * What `termfleet daemon` runs once its settings are read (`main` loads the
 * daemon's code only then). A `SettingsError` (its name taken by another
 * daemon) exits 2; any other failure is a defect: logged, exit 1.
 */
export type RunDaemon = (settings: DaemonSettings) => Effect.Effect<void, SettingsError>

const daemon = (run: RunDaemon) => Command.make("daemon", daemonFlags, (flags) => Effect.flatMap(readSettings(flags), run))

/** A command and, in one line, what it does: for the overview and for its own `--help`. */
const entry = <Name extends string, R, E, A>(about: string, command: Command.Command<Name, R, E, A>) => ({
  name: [...Command.getNames(command)].join(" "),
  about,
  command: Command.withDescription(command, about)
})

const commands = (run: RunDaemon) =>
  [
    entry("run the daemon of this computer (every flag has an env var; flags win)", daemon(run)),
    entry("list every session of every computer", ls),
    entry("start a session on any computer; prints its id", newSession),
    entry("type a line into a session", send),
    entry("end a session", end),
    entry("print the last lines of a session's terminal", output),
    entry("a live view of every session, redrawn as they change; Ctrl-C quits", watch),
    entry("a session full screen in this terminal, on whichever computer it runs; Ctrl-] detaches", attach),
    entry("wait until a session's agent needs you or is done (--until: one state); exit 4 session gone, 5 timed out", wait)
  ] as const

/** `termfleet`, `termfleet --help`: the commands, one line each (@effect/cli's own lists every flag of every command). */
const overview = (list: ReturnType<typeof commands>) => {
  const width = Math.max(...list.map(({ name }) => name.length))
  return [
    `termfleet ${VERSION}: one live view of every terminal session on every computer`,
    "",
    "usage: termfleet <command> [flags] [arguments]",
    "",
    "commands:",
    ...list.map(({ about, name }) => `  ${name.padEnd(width)}  ${about}`),
    "",
    "'termfleet <command> --help' tells more about each, with every flag and its env var.",
    "'termfleet --version' prints the version; 'termfleet --completions bash' (or zsh, fish, sh) a completion script.",
    "Exit codes: 0 ok, 1 the daemon answered with an error, 2 bad usage or settings, 3 the daemon is not reachable;",
    "'wait' adds 4 the session or its agent is gone, 5 timed out.",
    ""
  ].join("\n")
}

const termfleet = (list: ReturnType<typeof commands>) =>
  Command.make("termfleet").pipe(Command.withSubcommands(Arr.map(list, ({ command }) => command)))

const cliConfig = CliConfig.make({ showBuiltIns: false, showTypes: false })

// SGR sequences (bold help headers): kept for a terminal, dropped for a pipe or a file.
const styling = /\u001b\[[0-9;]*m/g

/** @effect/cli prints help and usage errors through `Console`: to the client's output, like everything else. */
const consoleTo = (base: Console.Console, output: ClientOutputService, terminal: boolean): Console.Console => {
  const text = (args: ReadonlyArray<unknown>) => {
    const joined = args.map(String).join(" ")
    return `${terminal ? joined : joined.replace(styling, "")}\n`
  }
  return { ...base, log: (...args) => output.stdout(text(args)), error: (...args) => output.stderr(text(args)) }
}

const exitCodeOf = (error: { readonly _tag: string }) => {
  switch (error._tag) {
    case "DaemonUnreachable":
      return ExitCode.unreachable
    case "DaemonFailed":
      return ExitCode.daemonError
    case "SessionGone":
      return ExitCode.sessionGone
    case "WaitTimedOut":
      return ExitCode.timedOut
    case "ComputerGone":
      return ExitCode.computerGone
    default:
      return ExitCode.usage
  }
}

/** Runs `termfleet <argv>`; answers its exit code. Usage errors were printed by @effect/cli, the others are here. */
export const runCli = (argv: ReadonlyArray<string>, run: RunDaemon) =>
  Effect.gen(function*() {
    const output = yield* ClientOutput
    const terminal = (yield* output.columns) !== undefined
    const list = commands(run)
    const [first, ...rest] = argv
    if (first === undefined || (rest.length === 0 && ["help", "--help", "-h"].includes(first))) {
      return yield* Effect.as(output.stdout(overview(list)), ExitCode.ok)
    }
    const known = list.some(({ name }) => name === first)
    // `termfleet help ls` as `termfleet ls --help`
    const args = first === "help" ? [...rest, "--help"] : argv
    const app = Command.run(termfleet(list), { name: "termfleet", version: VERSION, executable: "termfleet" })
    return yield* app(["node", "termfleet", ...args]).pipe(
      Effect.as(ExitCode.ok),
      Effect.catchIf(ValidationError.isValidationError, () =>
        Effect.as(output.stderr(`see 'termfleet ${known ? `${first} ` : ""}--help'\n`), ExitCode.usage)),
      Effect.catchAll((error) => Effect.as(output.stderr(`termfleet ${first}: ${error.message}\n`), exitCodeOf(error))),
      Effect.withConsole(consoleTo(yield* Effect.console, output, terminal)),
      Effect.provideService(CliConfig.CliConfig, cliConfig)
    )
  })
