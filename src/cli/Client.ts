/**
 * The client commands (`ls`, `new`, `send`, `end`, `output`, `watch`, `attach`): they
 * talk to a daemon's REST API through a client typed by `FleetApi`, and
 * `watch` to its WebSocket. `--json` prints what the daemon answered.
 *
 * Exit codes: 0 ok, 1 the daemon answered with an error, 2 bad usage,
 * 3 the daemon is not reachable.
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Clock, Effect, Either } from "effect"
import { type ClientArgs, type ClientCommand, commandUsage, DEFAULT_URL, parseClientArgs } from "./Args.js"
import { call, type ClientFailure, type Daemon, findToken, requestHeaders } from "./FleetClient.js"
import { ClientOutput, printError, printLine } from "./Output.js"
import { ago, block, byComputerThenAge, table, titleOf } from "./Text.js"
import { attach } from "./Attach.js"
import { sendKeys } from "./SendKeys.js"
import { watch } from "./Watch.js"

const ExitCode = { ok: 0, daemonError: 1, usage: 2, unreachable: 3 } as const

export const clientUsage = `  ls        list every session of every computer
  new       start a session on any computer
  send      type a line into a session, or press keys (--keys C-c)
  end       end a session
  output    print the last lines of a session's terminal
  watch     a live view of every session, redrawn on each change
  attach    a session in this terminal, full screen (Ctrl-] detaches)

The other commands talk to the daemon at --url or TERMFLEET_URL (${DEFAULT_URL}), with the token in
TERMFLEET_TOKEN, else the one the daemon keeps in its state folder (TERMFLEET_STATE_DIR).
Exit codes: 0 ok, 1 the daemon answered with an error, 2 bad usage, 3 the daemon is not reachable.`

const printJson = (value: unknown) => printLine(JSON.stringify(value, null, 2))

const run = (args: ClientArgs, daemon: Daemon): Effect.Effect<void, ClientFailure, ClientOutput> => {
  switch (args._tag) {
    case "ls":
      return Effect.gen(function*() {
        const urlParams = args.computer === undefined ? {} : { computer: args.computer }
        const sessions = yield* call(daemon, (client) => client.fleet.sessions({ urlParams }))
        if (args.json) return yield* printJson(sessions)
        if (sessions.length === 0) return yield* printLine("no sessions")
        const now = yield* Clock.currentTimeMillis
        const rows = [
          ["SESSION", "COMPUTER", "STATUS", "TITLE", "PROJECT", "ACTIVE", "COMMAND"],
          ...[...sessions].sort(byComputerThenAge).map((s) => [
            s.sessionId,
            s.computer,
            s.status,
            titleOf(s),
            s.projectPath ?? "-",
            ago(s.lastActivity, now),
            s.command
          ])
        ]
        yield* Effect.forEach(table(rows), printLine, { discard: true })
      })
    case "new":
      return Effect.flatMap(
        call(daemon, (client) => client.control.create({ payload: args.body })),
        (session) => (args.json ? printJson(session) : printLine(session.sessionId))
      )
    case "send":
      return Effect.flatMap(
        call(daemon, (client) => client.control.input({ path: { id: args.sessionId }, payload: { text: args.text } })),
        (session) => (args.json ? printJson(session) : Effect.void)
      )
    case "sendKeys":
      return Effect.zipRight(
        sendKeys(daemon, args.sessionId, args.bytes),
        args.json ? printJson({ sessionId: args.sessionId, sent: true }) : Effect.void
      )
    case "end":
      return Effect.zipRight(
        call(daemon, (client) => client.control.end({ path: { id: args.sessionId } })),
        args.json ? printJson({ sessionId: args.sessionId, ended: true }) : Effect.void
      )
    case "output":
      return Effect.flatMap(
        call(daemon, (client) =>
          client.control.output({
            path: { id: args.sessionId },
            urlParams: args.lines === undefined ? {} : { lines: args.lines }
          })),
        (output) => (args.json ? printJson(output) : printLine(block(output.output).trimEnd()))
      )
    case "watch":
      return watch(daemon)
    case "attach":
      return attach(daemon, args.sessionId)
  }
}

/** Runs one client command; answers its exit code. */
export const runClient = (
  command: ClientCommand,
  argv: ReadonlyArray<string>,
  env: Readonly<Record<string, string | undefined>>
): Effect.Effect<number, never, ClientOutput> =>
  Either.match(parseClientArgs(command, argv, env), {
    onLeft: (problem) =>
      problem._tag === "help"
        ? Effect.as(printLine(commandUsage[command]), ExitCode.ok)
        : Effect.as(printError(`termfleet ${command}: ${problem.message}\n\n${commandUsage[command]}`), ExitCode.usage),
    onRight: (args) =>
      findToken(env, args.url).pipe(
        Effect.flatMap((token) => run(args, { url: args.url, headers: requestHeaders(token) })),
        Effect.as(ExitCode.ok),
        Effect.catchAll((failure) =>
          Effect.as(
            printError(`termfleet ${command}: ${failure.message}`),
            failure._tag === "DaemonUnreachable" ? ExitCode.unreachable : ExitCode.daemonError
          ))
      )
  })

/** What `main` runs for a client command. Ctrl-C (during `watch`) interrupts it and exits 0. */
export const runClientMain = (command: ClientCommand, argv: ReadonlyArray<string>) =>
  runClient(command, argv, process.env).pipe(
    Effect.map((code) => {
      process.exitCode = code
    }),
    Effect.provide(ClientOutput.live),
    NodeRuntime.runMain
  )
