/**
 * `termfleet hooks install [--agent claude|codex] [--uninstall]`: writes the
 * hook configuration of the current user so the agents run the hook
 * command, `node dist/hook.js` (Claude Code: command hooks in `~/.claude/settings.json`; Codex:
 * `notify` in `~/.codex/config.toml`). It shows what it changes, changes
 * nothing when run again, and `--uninstall` takes out exactly what it put in.
 *
 * The planning is pure (text in, text out); only `applyPlan` touches files.
 */
import { FileSystem } from "@effect/platform"
import { Effect, Either, Option, Schema } from "effect"
import { homedir } from "node:os"
import { dirname, join } from "node:path"
import { claudeEvents, type HookAgent } from "./HookPayload.js"

type Env = Readonly<Record<string, string | undefined>>

export const claudeSettingsPath = (env: Env) =>
  join(env["CLAUDE_CONFIG_DIR"] || join(env["HOME"] || homedir(), ".claude"), "settings.json")
export const codexConfigPath = (env: Env) => join(env["CODEX_HOME"] || join(env["HOME"] || homedir(), ".codex"), "config.toml")

/** What would change in one file: its new text (`null`: unchanged; `""`: nothing left, remove it) and a line per change, for the user. */
export interface Plan {
  readonly file: string
  readonly text: string | null
  readonly changes: ReadonlyArray<string>
}

export class InstallRefused extends Schema.TaggedError<InstallRefused>()("InstallRefused", { message: Schema.String }) {}

const shellWord = (word: string) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`)

/**
 * The program the hooks run, as words, before the agent's name: this node
 * and the `hook.js` beside this termfleet's `main.js` (quick to start, see
 * `HookCommand.ts`), so it works without `termfleet` on the PATH.
 */
export type HookProgram = ReadonlyArray<string>

// ---------------------------------------------------------------------------
// Claude Code: settings.json

/** A command hook of termfleet's, whichever copy (or version: `main.js hook claude` before `hook.js claude`) wrote it. */
const isOurs = (command: unknown): boolean =>
  typeof command === "string" && /(^|[\s/'"])((termfleet|main\.js)['"]?\s+hook|hook\.js['"]?)\s+claude$/.test(command)

const toolEvents: ReadonlySet<string> = new Set(["PreToolUse", "PermissionRequest", "PostToolUse"])

const HookGroup = Schema.Struct({ hooks: Schema.Array(Schema.Struct({ command: Schema.optional(Schema.Unknown) })) })
const Settings = Schema.Record({ key: Schema.String, value: Schema.Unknown })
const HooksObject = Schema.Record({ key: Schema.String, value: Schema.Array(Schema.Unknown) })

type Group = Record<string, unknown>

const groupIsOurs = (group: unknown) =>
  Option.match(Schema.decodeUnknownOption(HookGroup)(group), {
    onNone: () => false,
    onSome: ({ hooks }) => hooks.length > 0 && hooks.every((hook) => isOurs(hook.command))
  })

export const planClaude = (
  file: string,
  text: string | null,
  program: HookProgram,
  uninstall: boolean
): Either.Either<Plan, InstallRefused> =>
  Either.gen(function*() {
    const refuse = (why: string) => new InstallRefused({ message: `${file}: ${why}; fix it by hand first` })
    let parsed: unknown = {}
    if (text !== null && text.trim() !== "") {
      try {
        parsed = JSON.parse(text)
      } catch {
        return yield* Either.left(refuse("not valid JSON"))
      }
    }
    const settings = yield* Either.mapLeft(Schema.decodeUnknownEither(Settings)(parsed), () => refuse("not a JSON object"))
    const hooks = yield* Either.mapLeft(Schema.decodeUnknownEither(HooksObject)(settings["hooks"] ?? {}), () =>
      refuse("\"hooks\" is not an object of event arrays"))
    const command = [...program, "claude"].map(shellWord).join(" ")
    const changes: Array<string> = []
    const next: Record<string, ReadonlyArray<unknown>> = { ...hooks }
    const ourGroup = (event: string): Group => ({
      ...(toolEvents.has(event) ? { matcher: "*" } : {}),
      hooks: [{ type: "command", command, timeout: 5 }]
    })
    const sameGroup = (group: unknown, event: string) => JSON.stringify(group) === JSON.stringify(ourGroup(event))
    for (const event of uninstall ? Object.keys(hooks) : claudeEvents) {
      const groups = hooks[event] ?? []
      if (!uninstall && groups.some((group) => sameGroup(group, event))) continue
      const kept = groups.filter((group) => !groupIsOurs(group))
      for (const group of groups.filter(groupIsOurs)) {
        changes.push(`- hooks.${event}: ${JSON.stringify(Schema.decodeUnknownSync(HookGroup)(group).hooks[0]?.command)}`)
      }
      if (uninstall) {
        if (kept.length === 0) delete next[event]
        else next[event] = kept
      } else {
        next[event] = [...kept, ourGroup(event)]
        changes.push(`+ hooks.${event}: ${JSON.stringify(command)}`)
      }
    }
    if (changes.length === 0) return { file, text: null, changes }
    const { hooks: _, ...rest } = settings
    const result = Object.keys(next).length === 0 ? rest : { ...rest, hooks: next }
    return { file, text: Object.keys(result).length === 0 ? "" : `${JSON.stringify(result, null, 2)}\n`, changes }
  })

// ---------------------------------------------------------------------------
// Codex: config.toml

const MARK = "# termfleet hooks install"

/** The top-level `notify = ...` line: before the first table header. */
const topLevelNotify = (lines: ReadonlyArray<string>): number => {
  for (let i = 0; i < lines.length; i++) {
    if (/^\s*\[/.test(lines[i]!)) return -1
    if (/^\s*notify\s*=/.test(lines[i]!)) return i
  }
  return -1
}

export const planCodex = (
  file: string,
  text: string | null,
  program: HookProgram,
  uninstall: boolean
): Either.Either<Plan, InstallRefused> => {
  // TOML basic strings escape as JSON strings do.
  const line = `notify = [${[...program, "codex"].map((word) => JSON.stringify(word)).join(", ")}] ${MARK}`
  const lines = text === null || text === "" ? [] : text.replace(/\n$/, "").split("\n")
  const at = topLevelNotify(lines)
  const ours = at >= 0 && lines[at]!.endsWith(MARK)
  if (uninstall) {
    return Either.right(
      ours
        ? { file, text: lines.filter((_, i) => i !== at).map((l) => `${l}\n`).join("").replace(/^\s*$/, ""), changes: [`- ${lines[at]}`] }
        : { file, text: null, changes: [] }
    )
  }
  if (at >= 0 && !ours) {
    return Either.left(
      new InstallRefused({
        message: `${file} already has '${lines[at]!.trim()}', and Codex runs one notify program: ` +
          `remove it, or make it also run: ${[...program, "codex"].map(shellWord).join(" ")} JSON`
      })
    )
  }
  if (ours && lines[at] === line) return Either.right({ file, text: null, changes: [] })
  const next = ours ? lines.map((l, i) => (i === at ? line : l)) : [line, ...lines]
  return Either.right({
    file,
    text: next.map((l) => `${l}\n`).join(""),
    changes: [...(ours ? [`- ${lines[at]}`] : []), `+ ${line}`]
  })
}

// ---------------------------------------------------------------------------
// Files

const readIfThere = (path: string) =>
  Effect.flatMap(FileSystem.FileSystem, (fs) =>
    fs.readFileString(path).pipe(
      Effect.map((text): string | null => text),
      Effect.catchTag("SystemError", (e) => (e.reason === "NotFound" ? Effect.succeed(null) : Effect.fail(e)))
    ))

/** Writes a plan's text next to the file and renames it over, keeping the file's mode. */
export const applyPlan = (plan: Plan) =>
  Effect.gen(function*() {
    if (plan.text === null) return
    const fs = yield* FileSystem.FileSystem
    if (plan.text === "") return yield* fs.remove(plan.file)
    yield* fs.makeDirectory(dirname(plan.file), { recursive: true })
    const mode = yield* fs.stat(plan.file).pipe(Effect.map((info) => info.mode & 0o777), Effect.orElseSucceed(() => 0o600))
    const temporary = `${plan.file}.termfleet-${process.pid}`
    yield* fs.writeFileString(temporary, plan.text, { mode })
    yield* fs.rename(temporary, plan.file)
  })

/** Reads the agent's configuration and plans the change. */
export const planFor = (agent: HookAgent, env: Env, program: HookProgram, uninstall: boolean) =>
  Effect.gen(function*() {
    const file = agent === "claude" ? claudeSettingsPath(env) : codexConfigPath(env)
    const text = yield* readIfThere(file)
    return yield* (agent === "claude" ? planClaude : planCodex)(file, text, program, uninstall)
  })

// ---------------------------------------------------------------------------
// The command

export const hooksUsage = `usage: termfleet hooks install [--agent claude|codex] [--uninstall]

  connects the agents of this user to termfleet: Claude Code's hooks in ~/.claude/settings.json
  (or $CLAUDE_CONFIG_DIR), Codex's notify in ~/.codex/config.toml (or $CODEX_HOME) run
  termfleet's hook command (dist/hook.js: 'termfleet hook', quicker to start). Prints what it changes; running it again changes nothing.
  --agent NAME   only this agent (default: both)
  --uninstall    take out what install put in`

/** `termfleet hooks install ...`; answers the exit code (0 done, 1 refused, 2 usage). */
export const runHooksInstall = (argv: ReadonlyArray<string>, env: Env, program: HookProgram) =>
  Effect.gen(function*() {
    const [verb, ...flags] = argv
    if (verb === "--help" || verb === "-h" || flags.includes("--help")) return { code: 0, out: [hooksUsage], err: [] }
    const usage = (why: string) => ({ code: 2, out: [], err: [`termfleet hooks: ${why}\n\n${hooksUsage}`] })
    if (verb !== "install") return usage(verb === undefined ? "say 'install'" : `unknown '${verb}'`)
    let agents: ReadonlyArray<HookAgent> = ["claude", "codex"]
    let uninstall = false
    for (let i = 0; i < flags.length; i++) {
      if (flags[i] === "--uninstall") uninstall = true
      else if (flags[i] === "--agent" && (flags[i + 1] === "claude" || flags[i + 1] === "codex")) agents = [flags[++i] as HookAgent]
      else return usage(`unknown option '${flags[i]}'`)
    }
    const out: Array<string> = []
    const err: Array<string> = []
    for (const agent of agents) {
      const planned = yield* Effect.either(planFor(agent, env, program, uninstall))
      if (Either.isLeft(planned)) {
        const error = planned.left
        err.push(`termfleet hooks: ${error._tag === "InstallRefused" ? error.message : `${agent}: ${error.message}`}`)
        continue
      }
      const plan = planned.right
      const wrote = yield* Effect.either(applyPlan(plan))
      if (Either.isLeft(wrote)) {
        err.push(`termfleet hooks: ${plan.file}: ${wrote.left.message}`)
        continue
      }
      out.push(plan.changes.length === 0 ? `${plan.file}: unchanged` : `${plan.file}:`, ...plan.changes.map((c) => `  ${c}`))
    }
    return { code: err.length > 0 ? 1 : 0, out, err }
  })
