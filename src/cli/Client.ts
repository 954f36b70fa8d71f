/**
 * The client commands (`ls`, `new`, `send`, `end`, `output`, `watch`,
 * `attach`, `wait`): they talk to a daemon's REST API through a client typed by
 * `FleetApi`, and `watch` and `attach` to its WebSocket (their code, and `ws`,
 * load only for them). `--json` prints what the daemon answered.
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import { Clock, Duration, Effect, Option, Schema } from "effect"
import { resolve } from "node:path"
import { flag } from "../config/Flag.js"
import { AgentStateName } from "../domain/Model.js"
import { computer, json, lines, session, shellCommand, url } from "./Args.js"
import { call, type Daemon, findToken, requestHeaders } from "./FleetClient.js"
import { keyBytes } from "./Keys.js"
import { printLine } from "./Output.js"
import { agentCell, ago, block, byComputerThenAge, table, titleOf } from "./Text.js"

/** Runs `f` against the daemon at `url`, with the token it wants. */
export const withDaemon = <A, E, R>(url: string, f: (daemon: Daemon) => Effect.Effect<A, E, R>) =>
  Effect.flatMap(findToken(url), (token) => f({ url, headers: requestHeaders(token) }))

const printJson = (value: unknown) => printLine(JSON.stringify(value, null, 2))

const ls = Command.make("ls", { url, json, computer }, (args) =>
  withDaemon(args.url, (daemon) =>
    Effect.gen(function*() {
      const urlParams = Option.match(args.computer, { onNone: () => ({}), onSome: (computer) => ({ computer }) })
      const sessions = yield* call(daemon, "fleet", "sessions", { urlParams })
      if (args.json) return yield* printJson(sessions)
      if (sessions.length === 0) return yield* printLine("no sessions")
      const now = yield* Clock.currentTimeMillis
      const rows = [
        ["SESSION", "COMPUTER", "STATUS", "AGENT", "TITLE", "PROJECT", "ACTIVE", "COMMAND"],
        ...[...sessions].sort(byComputerThenAge).map((s) => [
          s.sessionId,
          s.computer,
          s.status,
          agentCell(s, now),
          titleOf(s),
          s.projectPath ?? "-",
          ago(s.lastActivity, now),
          s.command
        ])
      ]
      yield* Effect.forEach(table(rows), printLine, { discard: true })
    }))).pipe(Command.withDescription("list every session of every computer (--computer: of one)"))

const title = Options.text("title").pipe(Options.withPseudoName("TITLE"), Options.withDescription("its title"), Options.optional)
const project = Options.directory("project").pipe(
  Options.withPseudoName("DIR"),
  Options.withDescription("its project folder (and working directory)"),
  Options.optional
)
const command = Args.text({ name: "COMMAND" }).pipe(
  Args.withDescription("one word: a shell command line as it is; several: a program and its arguments"),
  Args.repeated
)

const newSession = Command.make("new", { url, json, computer, title, project, command }, (args) =>
  withDaemon(args.url, (daemon) => {
    const payload = {
      ...Option.match(args.computer, { onNone: () => ({}), onSome: (computer) => ({ computer }) }),
      ...Option.match(args.title, { onNone: () => ({}), onSome: (title) => ({ title }) }),
      // The daemon wants an absolute path; a relative one means "from here".
      ...Option.match(args.project, { onNone: () => ({}), onSome: (dir) => ({ projectPath: resolve(dir) }) }),
      ...(args.command.length === 0 ? {} : { command: shellCommand(args.command) })
    }
    return Effect.flatMap(
      call(daemon, "control", "create", { payload }),
      (created) => (args.json ? printJson(created) : printLine(created.sessionId))
    )
  }))

const text = Args.text({ name: "TEXT" }).pipe(
  Args.withDescription("words joined by spaces; with --keys, tmux key names pressed in order"),
  Args.atLeast(1)
)
const keys = Options.boolean("keys").pipe(Options.withDescription(
  "TEXT is key names, not text: C-c, C-d, M-x, Enter, Escape, Tab, BSpace, Space, Up, Down, Left, Right, " +
    "Home, End, PageUp, PageDown, Insert, Delete, F1-F12, or any one character"
))

/** A key name `send --keys` does not know: a usage error (exit 2). */
class UnknownKey extends Schema.TaggedError<UnknownKey>()("UnknownKey", { message: Schema.String }) {}

const send = Command.make("send", { url, json, keys, session, text }, (args) =>
  args.keys
    ? Effect.flatMap(
      Effect.mapError(Effect.all(args.text.map(keyBytes)), (message) => new UnknownKey({ message })),
      (bytes) =>
        withDaemon(args.url, (daemon) =>
          Effect.zipRight(
            Effect.flatMap(Effect.promise(() => import("./SendKeys.js")), (module) =>
              module.sendKeys(daemon, args.session, Buffer.from(bytes.join("")))),
            args.json ? printJson({ sessionId: args.session, sent: true }) : Effect.void
          ))
    )
    : withDaemon(args.url, (daemon) =>
      Effect.flatMap(
        call(daemon, "control", "input", { path: { id: args.session }, payload: { text: args.text.join(" ") } }),
        (updated) => (args.json ? printJson(updated) : Effect.void)
      )))

const end = Command.make("end", { url, json, session }, (args) =>
  withDaemon(args.url, (daemon) =>
    Effect.zipRight(
      call(daemon, "control", "end", { path: { id: args.session } }),
      args.json ? printJson({ sessionId: args.session, ended: true }) : Effect.void
    )))

const output = Command.make("output", { url, json, lines, session }, (args) =>
  withDaemon(args.url, (daemon) =>
    Effect.flatMap(
      call(daemon, "control", "output", {
        path: { id: args.session },
        urlParams: Option.match(args.lines, { onNone: () => ({}), onSome: (lines) => ({ lines }) })
      }),
      (shown) => (args.json ? printJson(shown) : printLine(block(shown.output).trimEnd()))
    )))

const watch = Command.make("watch", { url }, (args) =>
  withDaemon(args.url, (daemon) =>
    // `ws` and the socket code load only for this command.
    Effect.flatMap(Effect.promise(() => import("./Watch.js")), (module) => module.watch(daemon))))

const attach = Command.make("attach", { url, session }, (args) =>
  withDaemon(args.url, (daemon) => Effect.flatMap(Effect.promise(() => import("./Attach.js")), (module) => module.attach(daemon, args.session))))

const until = flag("until", {
  schema: Schema.compose(Schema.String, AgentStateName.annotations({ message: () => "expected waiting, done, working or exited" })),
  value: "STATE",
  about: "wait for this state of the agent: waiting, done, working or exited (default: waiting or done, whichever comes first)"
})

/** `90`, `90s`, `500ms`, `5m`, `2h`: a plain number is seconds. */
const WaitDuration = Schema.String.pipe(
  Schema.pattern(/^\d{1,9}(ms|s|m|h)?$/, { message: () => "expected a duration: 90, 90s, 500ms, 5m or 2h" }),
  Schema.transform(Schema.DurationFromSelf, {
    strict: true,
    decode: (raw) => {
      const [, digits = "0", unit = "s"] = /^(\d+)(\D*)$/.exec(raw) ?? []
      return Duration.millis(Number(digits) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[unit as "ms" | "s" | "m" | "h"])
    },
    encode: (duration) => `${Duration.toMillis(duration)}ms`
  })
)
const timeout = flag("timeout", { schema: WaitDuration, value: "DURATION", about: "give up after this long, exit 5 (default: never)" })

const wait = Command.make("wait", { url, json, until, timeout, session }, (args) =>
  withDaemon(args.url, (daemon) =>
    Effect.gen(function*() {
      const { waitFor } = yield* Effect.promise(() => import("./Wait.js"))
      const session = yield* waitFor(daemon, args.session, args.until, args.timeout)
      if (args.json) return yield* printJson(session)
      yield* printLine(`${session.computer}/${session.sessionId} ${agentCell(session, yield* Clock.currentTimeMillis)}`)
    })))

export { attach, end, ls, newSession, output, send, wait, watch }
