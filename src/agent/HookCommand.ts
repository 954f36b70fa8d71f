/**
 * `termfleet hook claude|codex`: what an agent's hook runs. It takes the
 * agent's JSON (Claude Code: on stdin; Codex: as the last argument), finds
 * the termfleet session it runs in and posts both to the daemon.
 *
 * A hook must never get in the agent's way: outside a termfleet session it
 * does nothing, it gives up after `HOOK_TIMEOUT_MILLIS`, it prints nothing on
 * standard output (Claude Code reads that as context for the model) and it
 * never exits 2 (Claude Code reads that as "block this tool call").
 */
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import { ConfigProvider, Effect, Option, Schema } from "effect"
import { execFile } from "node:child_process"
import { request as httpRequest } from "node:http"
import { request as httpsRequest } from "node:https"
import { DEFAULT_URL } from "../cli/Args.js"
import { findToken, requestHeaders } from "../cli/FleetClient.js"
import { ClientOutput, printError, printLine } from "../cli/Output.js"
import { Limits } from "../domain/Limits.js"
import { SessionEnv } from "./AgentState.js"
import { HookAgent } from "./HookPayload.js"

export const HOOK_TIMEOUT_MILLIS = 3000

export const hookUsage = `usage: termfleet hook claude|codex [JSON]

  what an agent's hook runs (see 'termfleet hooks install'): posts the hook's JSON
  (Claude Code: on standard input; Codex: the last argument) to this computer's daemon,
  for the session it runs in (TERMFLEET_SESSION, else the tmux pane's session).
  Outside a termfleet session it does nothing. Exit codes: 0 taken or nothing to do,
  1 refused or not delivered (never 2: Claude Code would read it as "block").`

export class HookFailed extends Schema.TaggedError<HookFailed>()("HookFailed", { message: Schema.String }) {}

type Env = Readonly<Record<string, string | undefined>>

/** The termfleet session of the tmux pane this runs in, asked of tmux itself (it finds its server through $TMUX). */
const sessionOfPane = (pane: string): Effect.Effect<Option.Option<string>> =>
  Effect.async((resume) => {
    execFile("tmux", ["display-message", "-p", "-t", pane, "#{@tf_id}"], { timeout: 1000 }, (error, stdout) => {
      const id = error === null ? stdout.trim() : ""
      resume(Effect.succeed(/^[0-9a-f]{12}$/.test(id) ? Option.some(id) : Option.none()))
    })
  })

/** `TERMFLEET_SESSION`, set by the daemon in the sessions it starts, else the pane's. */
export const findSession = (env: Env): Effect.Effect<Option.Option<string>> => {
  const given = env[SessionEnv.session]
  if (given !== undefined && given !== "") return Effect.succeedSome(given)
  const pane = env["TMUX_PANE"]
  return pane !== undefined && env["TMUX"] !== undefined && /^%\d+$/.test(pane) ? sessionOfPane(pane) : Effect.succeedNone
}

export type HookOutcome = "sent" | "not-a-termfleet-session"

/**
 * One POST on a connection of its own, closed after: a kept-alive
 * connection would hold the hook (and the agent waiting for it) for seconds.
 */
const post = (url: URL, body: string, headers: Readonly<Record<string, string>>) =>
  Effect.async<{ readonly status: number; readonly body: string }, Error>((resume) => {
    const request = (url.protocol === "https:" ? httpsRequest : httpRequest)(url, {
      method: "POST",
      agent: false,
      headers: { ...headers, "content-length": String(Buffer.byteLength(body)) },
      timeout: HOOK_TIMEOUT_MILLIS
    }, (response) => {
      const chunks: Array<Buffer> = []
      response.on("data", (chunk: Buffer) => chunks.push(chunk))
      response.on("end", () => resume(Effect.succeed({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") })))
      response.on("error", (error) => resume(Effect.fail(error)))
    })
    request.on("timeout", () => request.destroy(new Error(`no answer within ${HOOK_TIMEOUT_MILLIS} ms`)))
    request.on("error", (error) => resume(Effect.fail(error)))
    request.end(body)
    return Effect.sync(() => request.destroy())
  })

/** Posts one hook call. */
export const sendHook = (agentName: string, payload: string, env: Env): Effect.Effect<HookOutcome, HookFailed> =>
  Effect.gen(function*() {
    const agent = yield* Schema.decodeUnknown(HookAgent)(agentName).pipe(
      Effect.mapError(() => new HookFailed({ message: `the agent is 'claude' or 'codex', not '${agentName}'` }))
    )
    if (Buffer.byteLength(payload) > Limits.hookBytes) {
      return yield* new HookFailed({ message: `a hook payload is at most ${Limits.hookBytes} bytes` })
    }
    const session = yield* findSession(env)
    if (Option.isNone(session)) return "not-a-termfleet-session" as const
    const url = env[SessionEnv.url] || env["TERMFLEET_URL"] || DEFAULT_URL
    const token = yield* findToken(url).pipe(
      Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env).flatMap(([k, v]) => (v === undefined ? [] : [[k, v]]))))),
      Effect.provide(NodeFileSystem.layer),
      Effect.mapError((error) => new HookFailed({ message: error.message }))
    )
    const response = yield* post(new URL(`/hooks/${agent}`, url), payload, {
      ...requestHeaders(token),
      "content-type": "application/json",
      "x-termfleet-session": session.value
    }).pipe(Effect.mapError((error) => new HookFailed({ message: `the daemon at ${url} did not take the hook: ${error.message}` })))
    if (response.status >= 200 && response.status < 300) return "sent" as const
    const message = Option.getOrElse(
      Option.map(Schema.decodeUnknownOption(Schema.parseJson(Schema.Struct({ message: Schema.String })))(response.body), (body) => body.message),
      () => `HTTP ${response.status}`
    )
    return yield* new HookFailed({ message: `the daemon refused the hook: ${message}` })
  })

/** Standard input, whole, up to one byte past the bound (so an oversize payload is told as such). */
export const readStdin: Effect.Effect<string> = Effect.async((resume) => {
  const chunks: Array<Buffer> = []
  let size = 0
  let finished = false
  const done = () => {
    if (finished) return
    finished = true
    process.stdin.destroy()
    resume(Effect.succeed(Buffer.concat(chunks).toString("utf8")))
  }
  process.stdin.on("data", (chunk: Buffer) => {
    chunks.push(chunk)
    size += chunk.length
    if (size > Limits.hookBytes) done()
  })
  process.stdin.on("end", done)
  process.stdin.on("error", done)
})

/** `termfleet hook AGENT [JSON]`; answers the exit code. */
export const runHook = (
  argv: ReadonlyArray<string>,
  env: Env,
  stdin: Effect.Effect<string>
): Effect.Effect<number, never, ClientOutput> =>
  Effect.gen(function*() {
    if (argv.includes("--help") || argv.includes("-h")) return yield* Effect.as(printLine(hookUsage), 0)
    const [agent, ...rest] = argv
    if (agent === undefined) return yield* Effect.as(printError(hookUsage), 1)
    const payload = agent === "codex" ? rest.at(-1) ?? "" : yield* stdin
    return yield* sendHook(agent, payload, env).pipe(
      Effect.as(0),
      Effect.catchAll((failure) => Effect.as(printError(`termfleet hook: ${failure.message}`), 1))
    )
  })
