/** Flags and arguments of the client commands (`ls`, `new`, `send`, `end`, `output`, `watch`, `attach`). */
import { Either, Schema } from "effect"
import { parseArgs } from "node:util"
import { resolve } from "node:path"
import { SessionPath } from "../domain/Api.js"
import { ComputerName } from "../domain/Model.js"
import type { CreateSessionBody } from "../domain/PeerRequest.js"
import { keyBytes } from "./Keys.js"

export const DEFAULT_URL = "http://127.0.0.1:7420"

export const clientCommands = ["ls", "new", "send", "end", "output", "watch", "attach"] as const
export type ClientCommand = typeof clientCommands[number]

export const isClientCommand = (command: string | undefined): command is ClientCommand =>
  clientCommands.some((c) => c === command)

export type ClientArgs =
  | { readonly _tag: "ls"; readonly url: string; readonly json: boolean; readonly computer?: string }
  | { readonly _tag: "new"; readonly url: string; readonly json: boolean; readonly body: CreateSessionBody }
  | { readonly _tag: "send"; readonly url: string; readonly json: boolean; readonly sessionId: string; readonly text: string }
  | { readonly _tag: "sendKeys"; readonly url: string; readonly json: boolean; readonly sessionId: string; readonly bytes: Buffer }
  | { readonly _tag: "end"; readonly url: string; readonly json: boolean; readonly sessionId: string }
  | { readonly _tag: "output"; readonly url: string; readonly json: boolean; readonly sessionId: string; readonly lines?: number }
  | { readonly _tag: "watch"; readonly url: string }
  | { readonly _tag: "attach"; readonly url: string; readonly sessionId: string }

const urlHelp = `  --url URL        the daemon to talk to, TERMFLEET_URL (${DEFAULT_URL})
  its token is TERMFLEET_TOKEN, else the one the daemon keeps in its state folder (TERMFLEET_STATE_DIR)`
const jsonHelp = "  --json           print JSON, for scripts"

export const commandUsage: Record<ClientCommand, string> = {
  ls: `usage: termfleet ls [--computer NAME] [--json] [--url URL]

  list every session of every computer
  --computer NAME  only the sessions of this computer
${jsonHelp}
${urlHelp}`,
  new: `usage: termfleet new [--computer NAME] [--title TITLE] [--project DIR] [--json] [--url URL] [--] [COMMAND...]

  start a session (default: on the daemon's computer, running the default shell); prints its id.
  Like tmux: one COMMAND word is a shell command line as it is; several words are
  one program and its arguments, quoted for the shell.
  --computer NAME  the computer to start it on
  --title TITLE    its title
  --project DIR    its project folder (and working directory)
${jsonHelp}
${urlHelp}`,
  send: `usage: termfleet send [--json] [--url URL] [--] SESSION TEXT...
       termfleet send --keys [--json] [--url URL] [--] SESSION KEY...

  type TEXT into a session, followed by Enter; with --keys, press keys given by their tmux
  names, in order: C-c, C-d, M-x, Enter, Escape, Tab, BSpace, Space, Up, Down, Left, Right,
  Home, End, PageUp, PageDown, Insert, Delete, F1-F12, or any one character
  --keys           KEY... are key names, not text
${jsonHelp}
${urlHelp}`,
  end: `usage: termfleet end [--json] [--url URL] SESSION

  end a session
${jsonHelp}
${urlHelp}`,
  output: `usage: termfleet output [--lines N] [--json] [--url URL] SESSION

  print the last lines of a session's terminal
  --lines N        how many lines, 1-2000 (50)
${jsonHelp}
${urlHelp}`,
  watch: `usage: termfleet watch [--url URL]

  a live view of every session of every computer, redrawn on each change; Ctrl-C quits
${urlHelp}`,
  attach: `usage: termfleet attach [--url URL] SESSION

  the session in this terminal, full screen, of whichever computer it runs on: every key goes to it
  (Ctrl-C too); Ctrl-] detaches. A lost connection is resumed where it was.
${urlHelp}`
}

const options = {
  url: { type: "string" },
  json: { type: "boolean" },
  computer: { type: "string" },
  title: { type: "string" },
  project: { type: "string" },
  lines: { type: "string" },
  keys: { type: "boolean" },
  help: { type: "boolean", short: "h" }
} as const
type Flag = keyof typeof options

/** The options each command accepts; `--url` and `--help` go with all of them. */
const accepted: Record<ClientCommand, ReadonlyArray<Flag>> = {
  ls: ["json", "computer"],
  new: ["json", "computer", "title", "project"],
  send: ["json", "keys"],
  end: ["json"],
  output: ["json", "lines"],
  watch: [],
  attach: []
}

const Url = Schema.String.pipe(Schema.filter((raw) => {
  try {
    return ["http:", "https:"].includes(new URL(raw).protocol) || "expected an http:// or https:// URL"
  } catch {
    return "expected an http:// or https:// URL"
  }
}))
const SessionId = SessionPath.fields.id.annotations({
  message: () => "a session id is 1-64 letters, digits, '_' or '-'"
})
const Lines = Schema.NumberFromString.pipe(Schema.int(), Schema.between(1, 2000))

/** What `--help` asked for, or why the arguments are wrong (the caller prints the usage). */
export type ArgsProblem = { readonly _tag: "help" } | { readonly _tag: "invalid"; readonly message: string }

/** Flags win over `TERMFLEET_URL`. */
export const parseClientArgs = (
  command: ClientCommand,
  argv: ReadonlyArray<string>,
  env: Readonly<Record<string, string | undefined>>
): Either.Either<ClientArgs, ArgsProblem> => {
  let parsed: { values: Partial<Record<Flag, string | boolean>>; positionals: Array<string> }
  try {
    parsed = parseArgs({ args: [...argv], options, strict: true, allowPositionals: true })
  } catch (error) {
    return invalid(error instanceof Error ? error.message : String(error))
  }
  const { positionals, values } = parsed
  if (values.help === true) return Either.left({ _tag: "help" })
  const stray = Object.keys(values).find((name) => name !== "url" && name !== "help" && !accepted[command].includes(name as Flag))
  if (stray !== undefined) return invalid(`unknown option '--${stray}'`)
  const string = (name: Flag) => typeof values[name] === "string" ? values[name] : undefined
  const json = values.json === true

  return Either.gen(function*() {
    const url = yield* check("--url", Url, string("url") ?? env["TERMFLEET_URL"] ?? DEFAULT_URL)
    const rawComputer = string("computer")
    const computer = rawComputer === undefined ? undefined : yield* check("--computer", ComputerName, rawComputer)
    const positional = (count: number) =>
      positionals.length === count ? Either.right(positionals) : invalid(`expected ${count} argument(s), got ${positionals.length}`)
    switch (command) {
      case "ls":
        yield* positional(0)
        return { _tag: "ls", url, json, ...defined("computer", computer) }
      case "new": {
        const project = string("project")
        const body: CreateSessionBody = {
          ...defined("computer", computer),
          ...defined("title", string("title")),
          // The daemon wants an absolute path; a relative one means "from here".
          ...defined("projectPath", project === undefined ? undefined : resolve(project)),
          ...defined("command", positionals.length === 0 ? undefined : shellCommand(positionals))
        }
        return { _tag: "new", url, json, body }
      }
      case "send": {
        if (positionals.length < 2) {
          return yield* invalid(values.keys === true ? "expected a session id and key names" : "expected a session id and the text to type")
        }
        const [id = "", ...words] = positionals
        if (values.keys === true) {
          const bytes = yield* Either.mapLeft(
            Either.all(words.map(keyBytes)),
            (message): ArgsProblem => ({ _tag: "invalid", message })
          )
          return { _tag: "sendKeys", url, json, sessionId: yield* check("session id", SessionId, id), bytes: Buffer.from(bytes.join("")) }
        }
        return { _tag: "send", url, json, sessionId: yield* check("session id", SessionId, id), text: words.join(" ") }
      }
      case "end": {
        const [id = ""] = yield* positional(1)
        return { _tag: "end", url, json, sessionId: yield* check("session id", SessionId, id) }
      }
      case "output": {
        const [id = ""] = yield* positional(1)
        const rawLines = string("lines")
        const lines = rawLines === undefined ? undefined : yield* check("--lines", Lines, rawLines)
        return { _tag: "output", url, json, sessionId: yield* check("session id", SessionId, id), ...defined("lines", lines) }
      }
      case "watch":
        yield* positional(0)
        return { _tag: "watch", url }
      case "attach": {
        const [id = ""] = yield* positional(1)
        return { _tag: "attach", url, sessionId: yield* check("session id", SessionId, id) }
      }
    }
  })
}

const invalid = (message: string) => Either.left<ArgsProblem>({ _tag: "invalid", message })

const check = <A>(what: string, schema: Schema.Schema<A, string>, raw: string): Either.Either<A, ArgsProblem> =>
  Either.mapLeft(
    Schema.decodeEither(schema)(raw),
    (e): ArgsProblem => ({ _tag: "invalid", message: `${what} ${JSON.stringify(raw)}: ${e.message.split("\n").at(-1)?.trim()}` })
  )

const shellWord = (word: string) => /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`

/** The daemon runs a command line through the shell: one word is one already, several are an argument list. */
export const shellCommand = (words: ReadonlyArray<string>): string =>
  words.length === 1 ? words[0]! : words.map(shellWord).join(" ")

/** A property only when it has a value (exactOptionalPropertyTypes). */
const defined = <K extends string, A>(key: K, value: A | undefined): { [P in K]?: A } =>
  (value === undefined ? {} : { [key]: value }) as { [P in K]?: A }
