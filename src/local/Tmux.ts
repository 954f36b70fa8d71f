/**
 * How termfleet talks to tmux: the argument lists it runs, the listing it
 * reads back, and the pure functions that build the one and decode the other.
 * tmux only ever gets an argument list, never a shell string.
 *
 * A termfleet session is a tmux session carrying user options (`@tf_id`,
 * `@tf_created`, ...), so it and its metadata outlive the daemon.
 *
 * Targets are tmux's own session ids (`$3`) or a name termfleet generated
 * (`=tf-<id>:`), never user text: tmux reads ':' and '.' in a target as window
 * and pane parts, and matches names by prefix and pattern. User text reaches
 * tmux only through `literal` and `unexpanded`, or percent-encoded in options.
 */
import { Effect, Either, ParseResult, Ref, Schema } from "effect"
import { execFile } from "node:child_process"
import { Limits } from "../domain/Limits.js"
import type { Session, SessionStatus } from "../domain/Model.js"
import { notifies, type TmuxGate } from "./TmuxGate.js"

export class TmuxError extends Schema.TaggedError<TmuxError>()("TmuxError", {
  message: Schema.String
}) {}

/** No output for this long: `idle`. */
const IDLE_MILLIS = 5000

// ---------------------------------------------------------------------------
// Option values

/**
 * Option values are printed raw by `-F`, so '%', tabs, newlines and other
 * control characters are percent-encoded (a listing line stays one line) and
 * so is ';' (tmux ends a command at an argument ending in ';').
 */
const escapedInOption = /[%;\u0000-\u001f\u007f-\u009f]/g

export const OptionText = Schema.transformOrFail(Schema.String, Schema.String, {
  strict: true,
  decode: (text, _, ast) => {
    try {
      return ParseResult.succeed(decodeURIComponent(text))
    } catch {
      return ParseResult.fail(new ParseResult.Type(ast, text, "not percent-encoded"))
    }
  },
  encode: (text) => ParseResult.succeed(text.replace(escapedInOption, encodeURIComponent))
})

/** An unset option reads as "", which no valid value is (paths are absolute, input is never empty). */
const OptionalText = Schema.transform(OptionText, Schema.NullOr(Schema.String), {
  strict: true,
  decode: (text) => (text === "" ? null : text),
  encode: (text) => text ?? ""
})

const Count = Schema.NumberFromString.pipe(Schema.int(), Schema.nonNegative())

const Flag = Schema.transform(Schema.Literal("0", "1"), Schema.Boolean, {
  strict: true,
  decode: (flag) => flag === "1",
  encode: (on) => (on ? "1" : "0")
})

const SessionId = Schema.String.pipe(Schema.pattern(/^[0-9a-f]{12}$/))

/** What termfleet keeps on a tmux session, as user options. */
export const SessionMeta = Schema.Struct({
  sessionId: SessionId,
  createdAt: Count,
  title: OptionText,
  /** The tmux name given at creation: a different current name means a rename in tmux. */
  tmuxName: OptionText,
  projectPath: OptionalText,
  command: OptionText,
  lastInput: OptionalText
})
export type SessionMeta = typeof SessionMeta.Type

const optionNames: { readonly [K in keyof SessionMeta]: string } = {
  sessionId: "@tf_id",
  createdAt: "@tf_created",
  title: "@tf_title",
  tmuxName: "@tf_name",
  projectPath: "@tf_project",
  command: "@tf_command",
  lastInput: "@tf_last_input"
}

const encodeMeta = Schema.encodeSync(SessionMeta)
const encodeOptionText = Schema.encodeSync(OptionText)

// ---------------------------------------------------------------------------
// Session names

/**
 * The C-style escapes tmux writes; any other byte it escapes is octal (`\342`). `\$` is a '$' before a
 * letter, '_' or '{' (what a shell would expand).
 */
const cStyle: ReadonlyArray<readonly [string, string]> = [
  ["\\", "\\"], ["a", "\u0007"], ["b", "\b"], ["t", "\t"], ["n", "\n"], ["v", "\v"], ["f", "\f"], ["r", "\r"], ["$", "$"]
]
const charOfLetter = new Map(cStyle)
const letterOfChar = new Map(cStyle.map(([letter, char]) => [char, letter]))

const printedName = /^(?:[^\\]|\\[\\abtnvfr$]|\\[0-7]{3})*$/
/** An escaped character: C-style, or the octal escapes of all its bytes. */
const nameEscape = /\\[\\abtnvfr$]|(?:\\[0-7]{3})+/g
/** What tmux is known to escape: '\', controls, the line and paragraph separators, and '$' before a name. */
const escapedInName = /[\\\u0000-\u001f\u007f-\u009f\u2028\u2029]|\$(?=[A-Za-z_{])/gu

/**
 * A session name as tmux prints it. tmux stores names escaped (`utf8_stravis`):
 * '\' as '\\', a tab as '\t', and each byte of a character it cannot print as
 * octal: U+2028 comes back as `\342\200\250`. Which characters those are
 * depends on the C library's Unicode tables, so every escape is undone here,
 * and a name comes back exactly as it was given.
 */
export const TmuxName = Schema.transformOrFail(Schema.String, Schema.String, {
  strict: true,
  decode: (printed, _, ast) =>
    printedName.test(printed)
      ? ParseResult.succeed(printed.replace(nameEscape, (escaped) =>
        escaped.length === 2
          ? charOfLetter.get(escaped[1]!)!
          : Buffer.from(escaped.slice(1).split("\\").map((octal) => parseInt(octal, 8))).toString("utf8")))
      : ParseResult.fail(new ParseResult.Type(ast, printed, "not a name as tmux prints it")),
  encode: (name) =>
    ParseResult.succeed(name.replace(escapedInName, (char) => {
      const letter = letterOfChar.get(char)
      return letter !== undefined
        ? `\\${letter}`
        : [...Buffer.from(char)].map((byte) => `\\${byte.toString(8).padStart(3, "0")}`).join("")
    }))
})

const decodeTmuxName = Schema.decodeUnknownEither(TmuxName)

/** The session names of a `namesArgs` listing, as they were given. */
export const parseNames = (stdout: string): ReadonlySet<string> =>
  new Set(stdout.split("\n").flatMap((line) => Either.match(decodeTmuxName(line), { onLeft: () => [], onRight: (name) => [name] })))

// ---------------------------------------------------------------------------
// The listing

/** One line of the listing: a termfleet session as tmux reports it now. */
export const TmuxSession = Schema.Struct({
  /** tmux's own id (`$3`): the only way sessions are addressed. */
  tmuxId: Schema.String.pipe(Schema.pattern(/^\$\d+$/)),
  ...SessionMeta.fields,
  /** When the current window last had output, in whole seconds (tmux's resolution). */
  activity: Count,
  dead: Flag,
  /** The program in the pane's foreground and the title it set: how agents are recognised. */
  paneCommand: Schema.String,
  paneTitle: Schema.String,
  name: TmuxName
})
export type TmuxSession = typeof TmuxSession.Type

const columns: ReadonlyArray<readonly [keyof TmuxSession, string]> = [
  ["tmuxId", "#{session_id}"],
  ...Object.entries(optionNames).map(([key, option]) => [key as keyof SessionMeta, `#{${option}}`] as const),
  ["activity", "#{window_activity}"],
  ["dead", "#{pane_dead}"],
  // Programs set these: a tab in them would shift the columns after.
  ["paneCommand", "#{s/\t/ /:pane_current_command}"],
  ["paneTitle", "#{s/\t/ /:pane_title}"],
  // Last, because it is the one column anyone can set (rename-session).
  ["name", "#{session_name}"]
]

export const listFormat = columns.map(([, format]) => format).join("\t")

const decodeTmuxSession = Schema.decodeUnknownEither(TmuxSession)

export const parseSessionLine = (line: string): Either.Either<TmuxSession, string> => {
  const values = line.split("\t")
  if (values.length < columns.length) {
    return Either.left(`expected ${columns.length} tab-separated fields, got ${values.length}`)
  }
  const last = columns.length - 1
  const record = Object.fromEntries(
    columns.map(([key], i) => [key, i === last ? values.slice(last).join("\t") : values[i]])
  )
  return Either.mapLeft(decodeTmuxSession(record), (error) => error.message)
}

/** termfleet's sessions in a listing. Lines without `@tf_id` are someone else's, and are skipped like damaged ones. */
export const parseListing = (stdout: string): ReadonlyArray<TmuxSession> =>
  stdout.split("\n").flatMap((line) => {
    const parsed = parseSessionLine(line)
    return Either.isRight(parsed) ? [parsed.right] : []
  })

// ---------------------------------------------------------------------------
// Commands

/** tmux turns a final '\;' of an argument into ';' and takes a bare final ';' as a separator. */
export const literal = (text: string): string => (text.endsWith(";") ? `${text.slice(0, -1)}\\;` : text)

/**
 * For the arguments tmux expands as formats (session names, start
 * directories), where `#{...}` is replaced and `#(...)` runs a shell command;
 * '##' is a plain '#'.
 */
export const unexpanded = (text: string): string => literal(text.replaceAll("#", "##"))

export const listArgs: ReadonlyArray<string> = ["list-sessions", "-F", listFormat]
export const namesArgs: ReadonlyArray<string> = ["list-sessions", "-F", "#{session_name}"]

/**
 * The name tmux keeps unchanged: it would turn ':' and '.' into '_' and escape
 * '\'; and no '#', which tmux expands in names ('##[' is not unescaped by
 * tmux 3.3). The title itself is kept, as written, in a user option.
 */
export const uniqueName = (title: string, taken: ReadonlySet<string>): string => {
  const base = title.replace(/[:.\\#]/g, "_")
  let name = base
  for (let n = 2; taken.has(name); n++) name = `${base}-${n}`
  return name
}

const temporaryTarget = (sessionId: string) => `=tf-${sessionId}:`

/**
 * One tmux invocation, so no one sees a half-made session: `-d` leaves tmux's
 * current session unchanged, hence the generated name to target until the
 * final rename; `remain-on-exit` is on before the command can exit, so its end
 * shows as `pane_dead`. Prints the new session's listing line.
 */
export const createArgs = (meta: SessionMeta, env: ReadonlyArray<readonly [string, string]> = []): ReadonlyArray<string> => {
  const target = temporaryTarget(meta.sessionId)
  const encoded = encodeMeta(meta)
  return [
    "new-session", "-d", "-s", `tf-${meta.sessionId}`,
    ...env.flatMap(([name, value]) => ["-e", literal(`${name}=${value}`)]),
    ...(meta.projectPath === null ? [] : ["-c", unexpanded(meta.projectPath)]),
    "--", literal(meta.command),
    ...(Object.keys(optionNames) as Array<keyof SessionMeta>).flatMap((key) => [
      ";", "set-option", "-t", target, "--", optionNames[key], encoded[key]
    ]),
    ";", "set-option", "-w", "-t", target, "remain-on-exit", "on",
    ";", "rename-session", "-t", target, "--", unexpanded(meta.tmuxName),
    ";", "list-sessions", "-F", listFormat, "-f", `#{==:#{@tf_id},${meta.sessionId}}`
  ]
}

/** Removes what a failed `createArgs` may have left behind. */
export const discardArgs = (sessionId: string): ReadonlyArray<string> => ["kill-session", "-t", temporaryTarget(sessionId)]

export const killArgs = (tmuxId: string): ReadonlyArray<string> => ["kill-session", "-t", tmuxId]

/** Splits text into pieces of at most `maxBytes` UTF-8 bytes, never inside a character. */
export const chunkText = (text: string, maxBytes: number): ReadonlyArray<string> => {
  const chunks: Array<string> = []
  let current = ""
  let bytes = 0
  for (const char of text) {
    const size = Buffer.byteLength(char)
    if (bytes + size > maxBytes && current !== "") {
      chunks.push(current)
      current = ""
      bytes = 0
    }
    current += char
    bytes += size
  }
  if (current !== "") chunks.push(current)
  return chunks
}

/** Packs commands into as few invocations as fit tmux's message size, in order. */
export const packCommands = (
  commands: ReadonlyArray<ReadonlyArray<string>>,
  maxBytes: number = Limits.tmuxCommandBytes
): ReadonlyArray<ReadonlyArray<string>> => {
  const invocations: Array<Array<string>> = []
  let current: Array<string> = []
  let bytes = 0
  for (const command of commands) {
    const size = commandBytes(command) + 2 // and its ";"
    if (current.length > 0 && bytes + size > maxBytes) {
      invocations.push(current)
      current = []
      bytes = 0
    }
    if (current.length > 0) current.push(";")
    current.push(...command)
    bytes += size
  }
  if (current.length > 0) invocations.push(current)
  return invocations
}

export const commandBytes = (args: ReadonlyArray<string>): number =>
  args.reduce((total, arg) => total + Buffer.byteLength(arg) + 1, 0)

/** What lastInput keeps of a text: its first characters, never half of one. */
export const storedInput = (text: string): string => [...text].slice(0, Limits.lastInputChars).join("")

/** Types `text` literally, presses Enter, and records what was typed. */
export const sendArgs = (tmuxId: string, text: string, lastInput: string): ReadonlyArray<ReadonlyArray<string>> =>
  packCommands([
    // Half the budget per piece leaves room for the Enter and the option in the last invocation.
    ...chunkText(text, Limits.tmuxCommandBytes / 2).map((piece) => ["send-keys", "-t", tmuxId, "-l", "--", literal(piece)]),
    ["send-keys", "-t", tmuxId, "Enter"],
    ["set-option", "-t", tmuxId, "--", optionNames.lastInput, encodeOptionText(lastInput)]
  ])

// ---------------------------------------------------------------------------
// From tmux to a Session

/** The last `lines` lines of a capture, without the blank lines below the cursor. */
export const tailLines = (capture: string, lines: number): string => {
  const all = capture.split("\n")
  let end = all.length
  while (end > 0 && all[end - 1]!.trim() === "") end--
  return all.slice(Math.max(0, end - lines), end).join("\n")
}

/**
 * The bounded tail every cache entry carries. Runs of blank lines count as
 * one: short output leaves most of the screen blank, and a dead pane's notice
 * sits on its bottom row, which would push the output itself out of the tail.
 */
export const lastOutputOf = (capture: string): string =>
  tailLines(capture.replace(/\n(?:[ \t]*\n)+/g, "\n\n"), Limits.lastOutputLines).slice(-Limits.lastOutputChars)

export const statusOf = (dead: boolean, lastActivity: number, now: number): SessionStatus =>
  dead ? "exited" : now - lastActivity >= IDLE_MILLIS ? "idle" : "running"

/** `lastActivity`: when the pane last wrote, in milliseconds (control mode knows it exactly; tmux's listing in seconds). */
export const toSession = (
  row: TmuxSession,
  computer: string,
  lastOutput: string,
  now: number,
  lastActivity: number = row.activity * 1000
): Session => ({
  sessionId: row.sessionId,
  computer,
  title: row.name === row.tmuxName ? row.title : row.name,
  projectPath: row.projectPath,
  command: row.command,
  status: statusOf(row.dead, lastActivity, now),
  createdAt: row.createdAt,
  lastActivity,
  lastInput: row.lastInput,
  lastOutput
})

// ---------------------------------------------------------------------------
// Running tmux

export interface Tmux {
  /** Runs one tmux client; answers its standard output. */
  readonly run: (args: ReadonlyArray<string>) => Effect.Effect<string, TmuxError>
  /** Like `run`, for listings: no server yet, or no sessions, answers "". */
  readonly list: (args: ReadonlyArray<string>) => Effect.Effect<string, TmuxError>
  /** tmux processes started so far. */
  readonly calls: Effect.Effect<number>
}

/** What tmux says when its server is not running (no socket, a stale one, or just exiting) or has no sessions. */
export const isNoServer = (message: string): boolean =>
  /no server running|no sessions|server exited unexpectedly|error connecting to .*\((No such file or directory|Connection refused)\)/
    .test(message)

/**
 * The environment tmux runs in. The server tmux starts hands its environment
 * to every session: the daemon's own settings (its token, a Redis URL with a
 * password) stay out.
 */
export const tmuxEnv = (): Record<string, string | undefined> =>
  Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith("TERMFLEET_")))

/** Commands that change sessions or windows run through `gate`. */
export const makeTmux = (socket: string, gate: TmuxGate): Effect.Effect<Tmux> =>
  Effect.map(Ref.make(0), (calls) => {
    const env = tmuxEnv()
    const run = (args: ReadonlyArray<string>) => {
      const invocation = Effect.zipRight(
        Ref.update(calls, (n) => n + 1),
        Effect.async<string, TmuxError>((resume, signal) => {
          // -u: names and output are UTF-8 whatever the daemon's locale.
          execFile(
            "tmux",
            ["-u", "-L", socket, ...args],
            { env, signal, timeout: 10_000, maxBuffer: 64 * 1024 * 1024, encoding: "utf8" },
            (error, stdout, stderr) =>
              resume(
                error === null
                  ? Effect.succeed(stdout)
                  : Effect.fail(new TmuxError({ message: `tmux ${args[0]}: ${stderr.trim() || error.message}` }))
              )
          )
        })
      )
      return notifies(args) ? gate.exclusive(invocation) : invocation
    }
    return {
      run,
      list: (args) =>
        Effect.catchIf(run(args), (error) => isNoServer(error.message), () => Effect.succeed("")),
      calls: Ref.get(calls)
    }
  })
