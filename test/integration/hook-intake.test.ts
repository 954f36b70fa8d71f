/**
 * Hook calls a daemon refuses, and counts in /health: a bad token, a body
 * that is not the agent's documented JSON, an unknown agent or session.
 * Through `POST /hooks/:agent` directly and through `termfleet hook`. And
 * hooks of the built daemon as a user starts it (its token given in a file),
 * run by a stand-in agent in one of its sessions.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { Limits } from "../../src/domain/Limits.js"
import type { AgentStatus, Session } from "../../src/domain/Model.js"
import { homeWithHooks, keepToken, standIn, termfleetWith } from "../support/Agents.js"
import { cleanEnv, startDaemonProcess } from "../support/DaemonProcess.js"
import { raw } from "../support/RawHttp.js"
import { hookPayload } from "../support/Screens.js"
import { tempDir } from "../support/TempDir.js"
import { certificatesFor } from "../support/TlsRedis.js"
import { startDaemon, TEST_TOKEN, type TestDaemon } from "../support/TestDaemon.js"
import { privateTmux, tmuxCli } from "../support/TmuxServer.js"
import { subscribedClient, type WsClient } from "../support/WsClient.js"

const post = (daemon: TestDaemon, path: string, body: string, headers: Record<string, string>) =>
  Effect.promise(async () => {
    const response = await fetch(daemon.httpUrl(path), { method: "POST", headers: { "content-type": "application/json", ...headers }, body })
    return { status: response.status, body: await response.text() }
  })

const health = (daemon: TestDaemon) =>
  Effect.promise(async () => (await (await fetch(daemon.httpUrl("/health"), { headers: daemon.authHeaders })).json()) as Record<string, unknown>)

const withSession = Effect.gen(function*() {
  const daemon = yield* startDaemon("alpha", Option.none())
  yield* keepToken(daemon.settings.stateDir, TEST_TOKEN)
  const created = yield* Effect.promise(async () => {
    const response = await fetch(daemon.httpUrl("/sessions"), {
      method: "POST",
      headers: { ...daemon.authHeaders, "content-type": "application/json" },
      body: JSON.stringify({ command: "sh" })
    })
    return (await response.json()) as { sessionId: string }
  })
  // What a hook run in the session finds in its environment.
  const inSession = {
    TERMFLEET_SESSION: created.sessionId,
    TERMFLEET_URL: daemon.httpUrl(""),
    TERMFLEET_STATE_DIR: daemon.settings.stateDir
  }
  return { daemon, sessionId: created.sessionId, inSession }
})

describe("hook intake", () => {
  it.scopedLive("refuses a bad token, a malformed body, an unknown agent or session, and counts each; takes a good call", () =>
    Effect.gen(function*() {
      const { daemon, sessionId } = yield* withSession
      const auth = { ...daemon.authHeaders, "x-termfleet-session": sessionId }
      const stop = hookPayload("claude-Stop")
      const refusals = [
        yield* post(daemon, "/hooks/claude", stop, { authorization: "Bearer not-the-token-at-all", "x-termfleet-session": sessionId }),
        yield* post(daemon, "/hooks/claude", stop, { "x-termfleet-session": sessionId }),
        yield* post(daemon, "/hooks/claude", "{\"hook_event_name\": ", auth),
        yield* post(daemon, "/hooks/claude", JSON.stringify({ ...JSON.parse(stop), stop_hook_active: "yes" }), auth),
        yield* post(daemon, "/hooks/claude", hookPayload("codex-agent-turn-complete"), auth),
        yield* post(daemon, "/hooks/gemini", stop, auth),
        yield* post(daemon, "/hooks/claude", stop, daemon.authHeaders),
        yield* post(daemon, "/hooks/claude", stop, { ...daemon.authHeaders, "x-termfleet-session": "0123456789ab" })
      ]
      expect(refusals.map((r) => r.status)).toEqual([401, 401, 400, 400, 400, 400, 400, 404])
      expect(refusals[3]!.body).toContain("not a claude hook payload")
      expect(yield* health(daemon)).toMatchObject({ hooksIn: 0, hooksRefused: 8 })

      const taken = yield* post(daemon, "/hooks/claude", stop, auth)
      expect(taken.status).toBe(204)
      expect(yield* health(daemon)).toMatchObject({ hooksIn: 1, hooksRefused: 8 })
      const session = Option.getOrThrow(yield* daemon.cache.session({ sessionId, computer: "alpha" }))
      expect(session.agent).toMatchObject({ name: "claude", state: "done", source: "hook", summary: "Removed the build folder." })
    }))

  it.scopedLive("termfleet hook: nothing outside a termfleet session; refused token or body exit 1 (never 2); too large and not JSON is not sent", () =>
    Effect.gen(function*() {
      const { daemon, inSession } = yield* withSession
      const outside = yield* termfleetWith({}, ["hook", "claude"], hookPayload("claude-Stop"))
      expect(outside).toMatchObject({ code: 0, stdout: "", stderr: "" })

      const badToken = yield* termfleetWith({ ...inSession, TERMFLEET_TOKEN: "not-the-token-at-all" }, ["hook", "claude"], hookPayload("claude-Stop"))
      expect(badToken.code).toBe(1)
      expect(badToken.stderr).toContain("the daemon refused the hook")
      const malformed = yield* termfleetWith(inSession, ["hook", "claude"], "{\"hook_event_name\": \"Stop\"}")
      expect(malformed.code).toBe(1)
      expect(malformed.stderr).toContain("not a claude hook payload")
      const tooLarge = yield* termfleetWith(inSession, ["hook", "claude"], `{"prompt": "${"x".repeat(Limits.hookBytes)}`)
      expect(tooLarge.code).toBe(1)
      expect(tooLarge.stderr).toContain(`a hook payload over ${Limits.hookBytes} bytes is cut to fit, and this one is not JSON`)
      expect(yield* health(daemon)).toMatchObject({ hooksIn: 0, hooksRefused: 2 })

      const taken = yield* termfleetWith(inSession, ["hook", "codex", hookPayload("codex-agent-turn-complete")])
      expect(taken).toMatchObject({ code: 0, stdout: "" })
      expect(yield* health(daemon)).toMatchObject({ hooksIn: 1, hooksRefused: 2 })
    }), 60_000)

  it.scopedLive("termfleet hook: a payload of a megabyte is cut to fit, and still says what the agent is doing", () =>
    Effect.gen(function*() {
      const { daemon, inSession, sessionId } = yield* withSession
      const agentNow = Effect.map(daemon.cache.session({ sessionId, computer: "alpha" }), (s) => Option.getOrThrow(s).agent)
      const megabyte = "one line of the tool's output\n".repeat(35_000)
      const claude = (name: string, patch: Record<string, unknown>) => {
        const payload = JSON.stringify({ ...JSON.parse(hookPayload(name)), ...patch })
        expect(Buffer.byteLength(payload)).toBeGreaterThan(1_000_000)
        return termfleetWith(inSession, ["hook", "claude"], payload)
      }

      // The tool's whole output, which the daemon does not read; the tool's input, whose start it does.
      const used = yield* claude("claude-PostToolUse", {
        tool_input: { command: `cat build.log\n${megabyte}`, description: megabyte },
        tool_response: { stdout: megabyte, stderr: megabyte, interrupted: false }
      })
      expect(used).toMatchObject({ code: 0, stderr: "" })
      expect(yield* agentNow).toMatchObject({ state: "working", source: "hook", summary: "Bash: cat build.log" })
      // The last line of the last message: a question.
      const asked = yield* claude("claude-Stop", { last_assistant_message: `${megabyte}Shall I remove the cache as well?` })
      expect(asked).toMatchObject({ code: 0, stderr: "" })
      expect(yield* agentNow).toMatchObject({ state: "waiting", reason: "question", summary: "Shall I remove the cache as well?" })
      // Codex's comes as an argument (at most 128 KiB on Linux), its prompts in an array.
      const prompts = Array.from({ length: 3000 }, (_, i) => `prompt ${i} of a long session`)
      const codex = JSON.stringify({ ...JSON.parse(hookPayload("codex-agent-turn-complete")), "input-messages": prompts })
      expect(Buffer.byteLength(codex)).toBeGreaterThan(Limits.hookBytes)
      expect(yield* termfleetWith(inSession, ["hook", "codex", codex])).toMatchObject({ code: 0, stderr: "" })
      expect(yield* agentNow).toMatchObject({ name: "codex", state: "done", summary: "Added --verbose: it raises the log level to debug." })
      expect(yield* health(daemon)).toMatchObject({ hooksIn: 3, hooksRefused: 0 })
    }), 60_000)
})

/** Each hook call starts a Node process, as with the real agents: on a busy 2-core machine that takes seconds. */
const AGENT_TEST_MILLIS = 90_000

/**
 * The built daemon with its token in a file of its own (`--token-file`): none
 * in its state folder. `start` starts it again, as it was.
 */
const daemonWithTokenFile = (args: ReadonlyArray<string> = [], env?: NodeJS.ProcessEnv) =>
  Effect.gen(function*() {
    const tmuxSocket = yield* privateTmux
    const stateDir = yield* tempDir("tf-hook-state")
    const tokenFile = join(yield* tempDir("tf-hook-secrets"), "token")
    writeFileSync(tokenFile, `${TEST_TOKEN}\n`, { mode: 0o600 })
    const start = startDaemonProcess(
      ["--port", "0", "--tmux-socket", tmuxSocket, "--state-dir", stateDir, "--token-file", tokenFile, ...args],
      { tmuxSocket, ...(env === undefined ? {} : { env }) }
    )
    return { daemon: yield* start, start, stateDir, tmuxSocket }
  })

/** A `tmux` first on the PATH that logs its arguments, a line per call, to `log`, then runs the real one. */
const tmuxLoggingArgv = Effect.gen(function*() {
  const folder = yield* tempDir("tf-tmux-argv")
  const path = process.env["PATH"] ?? ""
  const real = path.split(":").map((dir) => join(dir, "tmux")).find((file) => existsSync(file))!
  const log = join(folder, "argv.log")
  writeFileSync(join(folder, "tmux"), `#!/bin/sh\nprintf '%s\\n' "$*" >> '${log}'\nexec '${real}' "$@"\n`, { mode: 0o755 })
  return { env: cleanEnv({ PATH: `${folder}:${path}` }), log }
})

/** The next update of session `id` whose agent status satisfies `where`. */
const agentUpdate = (client: WsClient, id: string, where: (agent: AgentStatus) => boolean) =>
  Effect.map(
    client.nextEvent("session_updated", (s: Session) => s.sessionId === id && s.agent !== undefined && where(s.agent)),
    (frame) => frame.data.agent as AgentStatus
  )

/** tmux's id of session `id` (`$3`). */
const tmuxTarget = (tmuxSocket: string, id: string) =>
  Effect.map(
    tmuxCli(tmuxSocket, "list-sessions", "-F", "#{session_id} #{@tf_id}"),
    (listed) => listed.split("\n").find((line) => line.endsWith(` ${id}`))!.split(" ")[0]!
  )

/** The environment tmux gives session `id`'s programs (over tmux's own). */
const sessionEnvironment = (tmuxSocket: string, id: string) =>
  Effect.gen(function*() {
    const shown = yield* tmuxCli(tmuxSocket, "show-environment", "-t", yield* tmuxTarget(tmuxSocket, id))
    return Object.fromEntries(shown.split("\n").flatMap((line) => {
      const at = line.indexOf("=")
      return at > 0 ? [[line.slice(0, at), line.slice(at + 1)]] : []
    })) as Record<string, string>
  })

describe("hooks of a daemon given its token by --token-file", () => {
  it.scopedLive("a stand-in Claude Code's hooks are taken; the session holds a hook credential's file, on no command line, not the token, and it opens nothing else", () =>
    Effect.gen(function*() {
      const home = yield* homeWithHooks("claude")
      const argv = yield* tmuxLoggingArgv
      const { daemon, stateDir, tmuxSocket } = yield* daemonWithTokenFile([], argv.env)
      const { client } = yield* subscribedClient(daemon.wsUrl, "sessions")
      const created = yield* daemon.request("POST", "/sessions", { title: "claude", command: standIn("claude", home) })
      expect(created.status).toBe(201)
      const id: string = created.body.sessionId
      yield* agentUpdate(client, id, (a) => a.state === "done")

      expect((yield* daemon.request("POST", `/sessions/${id}/input`, { text: "remove the build folder" })).status).toBe(200)
      // The hooks run before the stand-in shows its dialog: the first word of it is theirs.
      const asked = yield* agentUpdate(client, id, (a) => a.state === "waiting")
      expect(asked).toMatchObject({ source: "hook", reason: "permission", summary: "Bash: rm -rf build" })
      // Once the dialog is on screen, every hook of the turn so far has run: UserPromptSubmit, PreToolUse, PermissionRequest, Notification.
      if (asked.choices.length === 0) yield* agentUpdate(client, id, (a) => a.choices.length > 0)
      expect((yield* daemon.request("GET", "/health")).body).toMatchObject({ hooksIn: 4, hooksRefused: 0 })
      expect(existsSync(join(stateDir, "token"))).toBe(false)

      // Only the path of a file of the state folder, 0600 in a folder 0700, is in the session's environment and on tmux's command lines.
      const environment = yield* sessionEnvironment(tmuxSocket, id)
      const file = environment["TERMFLEET_HOOK_TOKEN_FILE"]!
      expect(file).toBe(join(stateDir, "hook-tokens", id))
      expect(environment["TERMFLEET_HOOK_TOKEN"]).toBeUndefined()
      expect(statSync(file).mode & 0o777).toBe(0o600)
      expect(statSync(dirname(file)).mode & 0o777).toBe(0o700)
      const credential = readFileSync(file, "utf8")
      expect(credential).toMatch(/^[\w-]{43}$/)
      const argvLog = readFileSync(argv.log, "utf8")
      expect(argvLog).toContain("new-session")
      for (const secret of [TEST_TOKEN, credential]) {
        expect(Object.values(environment).join("\n")).not.toContain(secret)
        expect(argvLog).not.toContain(secret)
      }
      const bearer = { authorization: `Bearer ${credential}` }
      const hook = (session: string) =>
        raw(daemon.url("/hooks/claude"), {
          method: "POST",
          headers: { ...bearer, "content-type": "application/json", "x-termfleet-session": session },
          body: hookPayload("claude-Stop")
        })
      expect((yield* hook(id)).status).toBe(204)
      const elsewhere = [
        yield* hook("0123456789ab"),
        yield* raw(daemon.url("/sessions"), { headers: bearer }),
        yield* raw(daemon.url(`/sessions/${id}/output`), { headers: bearer }),
        yield* raw(daemon.url(`/sessions/${id}/input`), {
          method: "POST",
          headers: { ...bearer, "content-type": "application/json" },
          body: JSON.stringify({ text: "3" })
        }),
        yield* raw(daemon.url(`/?token=${credential}`))
      ]
      expect(elsewhere.map((answer) => answer.status)).toEqual([401, 401, 401, 401, 401])
    }), AGENT_TEST_MILLIS)

  it.scopedLive("a session's credential file is written again by a restarted daemon and removed with its session; one holding the credential itself is still taken", () =>
    Effect.gen(function*() {
      const { daemon, start, stateDir, tmuxSocket } = yield* daemonWithTokenFile()
      const create = Effect.map(daemon.request("POST", "/sessions", { command: "sh" }), (created) => created.body.sessionId as string)
      const kept = yield* create
      const ended = yield* create
      const given = yield* sessionEnvironment(tmuxSocket, kept)
      const file = (id: string) => join(stateDir, "hook-tokens", id)
      const credential = readFileSync(file(kept), "utf8")
      expect(existsSync(file(ended))).toBe(true)
      const hook = (env: Readonly<Record<string, string>>) => termfleetWith(env, ["hook", "claude"], hookPayload("claude-Stop"))

      // A session ended while no daemon runs leaves its file; the next daemon removes it, and rewrites the others.
      yield* daemon.stop
      yield* tmuxCli(tmuxSocket, "kill-session", "-t", yield* tmuxTarget(tmuxSocket, ended))
      writeFileSync(file(kept), "")
      const again = yield* start
      expect(existsSync(file(ended))).toBe(false)
      expect(readFileSync(file(kept), "utf8")).toBe(credential)
      const told: Record<string, string> = { ...given, TERMFLEET_URL: again.base }
      expect(yield* hook(told)).toMatchObject({ code: 0, stderr: "" })

      // A session an older termfleet started holds the credential itself.
      const { TERMFLEET_HOOK_TOKEN_FILE: _, ...older } = told
      expect(yield* hook({ ...older, TERMFLEET_HOOK_TOKEN: credential })).toMatchObject({ code: 0, stderr: "" })
      expect((yield* hook({ ...older, TERMFLEET_HOOK_TOKEN: "not-the-credential" })).code).toBe(1)
      expect((yield* again.request("GET", "/health")).body).toMatchObject({ hooksIn: 2, hooksRefused: 1 })

      expect((yield* again.request("DELETE", `/sessions/${kept}`)).status).toBe(204)
      expect(existsSync(file(kept))).toBe(false)
    }), AGENT_TEST_MILLIS)
})

describe("hooks of a daemon serving TLS", () => {
  it.scopedLive("a session is told the https URL and the daemon's certificate, which its hook trusts, and nothing else, whatever names it carries", () =>
    Effect.gen(function*() {
      // Issued by an authority no session is told of, for a name that is not 127.0.0.1.
      const certs = yield* certificatesFor("DNS:termfleet.example")
      const { daemon, tmuxSocket } = yield* daemonWithTokenFile(["--tls-cert", certs.serverCert, "--tls-key", certs.serverKey])
      const https = (path: string, body?: unknown) =>
        raw(daemon.url(path), {
          ca: readFileSync(certs.caCert, "utf8"),
          servername: "termfleet.example",
          headers: { authorization: `Bearer ${TEST_TOKEN}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
          ...(body === undefined ? {} : { method: "POST", body: JSON.stringify(body) })
        })
      const created = yield* https("/sessions", { command: "sh" })
      expect(created.status).toBe(201)
      const id: string = created.json.sessionId
      const given = yield* sessionEnvironment(tmuxSocket, id)
      expect(given).toMatchObject({ TERMFLEET_URL: daemon.base, TERMFLEET_DAEMON_CERT: certs.serverCert })

      const hook = (env: Readonly<Record<string, string>>) => termfleetWith(env, ["hook", "claude"], hookPayload("claude-Stop"))
      expect(yield* hook(given)).toMatchObject({ code: 0, stderr: "" })
      const sessions: ReadonlyArray<Session> = (yield* https("/sessions")).json
      expect(sessions.find((s) => s.sessionId === id)?.agent).toMatchObject({ name: "claude", state: "done", source: "hook" })

      // Not the daemon's own certificate, though it verifies the daemon's; and none: what Node trusts, which is not this one.
      const { TERMFLEET_DAEMON_CERT: _, ...untold } = given
      for (const env of [{ ...given, TERMFLEET_DAEMON_CERT: certs.caCert }, untold]) {
        const refused = yield* hook(env)
        expect(refused.code).toBe(1)
        expect(refused.stderr).toContain("did not take the hook")
      }
      expect((yield* https("/health")).json).toMatchObject({ hooksIn: 1, hooksRefused: 0 })
    }), AGENT_TEST_MILLIS)
})
