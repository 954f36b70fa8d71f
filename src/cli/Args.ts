/** The flags and arguments the client commands share, each declared once. */
import * as Args from "@effect/cli/Args"
import * as Options from "@effect/cli/Options"
import { Option, Schema } from "effect"
import { SessionPath } from "../domain/Api.js"
import { OutputLines } from "../domain/Limits.js"
import { ComputerName } from "../domain/Model.js"
import { checked, flag, PlainDecimal } from "../config/Flag.js"
import { DEFAULT_URL } from "../config/Locations.js"


const Url = Schema.String.pipe(Schema.filter((raw) =>
  (URL.canParse(raw) && ["http:", "https:"].includes(new URL(raw).protocol)) || "expected an http:// or https:// URL"
))

export const url = flag("url", {
  env: "TERMFLEET_URL",
  schema: Url,
  value: "URL",
  about: `the daemon to talk to (default: ${DEFAULT_URL}); its token is env TERMFLEET_TOKEN or ` +
    `TERMFLEET_TOKEN_FILE, else, for a daemon on this computer, the one in its state folder (TERMFLEET_STATE_DIR)`
}).pipe(Options.map(Option.getOrElse(() => DEFAULT_URL)))

export const json = Options.boolean("json").pipe(Options.withDescription("print JSON, for scripts"))

export const computer = flag("computer", { schema: ComputerName, value: "NAME", about: "the computer" })

export const lines = flag("lines", {
  schema: PlainDecimal.pipe(Schema.compose(OutputLines), Schema.annotations({ message: () => "expected 1 to 2000" })),
  value: "N",
  about: "how many lines, 1-2000 (default: 50)"
})

const SessionId = SessionPath.fields.id.annotations({ message: () => "a session id is 1-64 letters, digits, '_' or '-'" })

export const session = Args.text({ name: "SESSION" }).pipe(
  Args.withDescription("the session's id, as `termfleet ls` shows it"),
  Args.mapEffect(checked("session id", SessionId))
)

const shellWord = (word: string) => /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`

/** The daemon runs a command line through the shell: one word is one already, several are an argument list. */
export const shellCommand = (words: ReadonlyArray<string>): string =>
  words.length === 1 ? words[0]! : words.map(shellWord).join(" ")
