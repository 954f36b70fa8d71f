/**
 * `termfleet hook claude|codex`: what an agent's hook runs. It takes the
 * agent's JSON (Claude Code: on stdin; Codex: as the last argument), finds
 * the termfleet session it runs in and posts both to the daemon, with the
 * session's hook credential (in the file `TERMFLEET_HOOK_TOKEN_FILE` names).
 *
 * A hook must never get in the agent's way: outside a termfleet session it
 * does nothing, it gives up after `HOOK_TIMEOUT_MILLIS`, it prints nothing on
 * standard output (Claude Code reads that as context for the model) and it
 * never exits 2 (Claude Code reads that as "block this tool call").
 *
 * Agents run it on every event (Claude Code: several per tool call), so it
 * is plain Node, without Effect, and `scripts/build.mjs` bundles it alone as
 * `dist/hook.js` (what `termfleet hooks install` writes): loading Effect and
 * the command line would cost it several times its own work. For the same
 * reason the daemon's answer is not decoded: a refusal's body is shown as
 * the daemon wrote it (cut, control characters removed).
 */
import { execFile } from "node:child_process"
import { X509Certificate } from "node:crypto"
import { readFile } from "node:fs/promises"
import { request as httpRequest } from "node:http"
import { request as httpsRequest } from "node:https"
import type { ConnectionOptions, PeerCertificate } from "node:tls"
import { DEFAULT_URL, tokenSource } from "../config/Locations.js"
import { fitPayload } from "./HookFit.js"
import { HOOK_INPUT_BYTES, HOOK_PAYLOAD_BYTES, type HookAgentName, hookAgents, LEGACY_HOOK_TOKEN, SessionEnv } from "./HookWire.js"

export const HOOK_TIMEOUT_MILLIS = 3000

export const hookUsage = `usage: termfleet hook claude|codex [JSON]   (or: node dist/hook.js claude|codex [JSON])

  what an agent's hook runs (see 'termfleet hooks install'): posts the hook's JSON
  (Claude Code: on standard input; Codex: the last argument) to this computer's daemon,
  for the session it runs in (TERMFLEET_SESSION, else the tmux pane's session).
  Outside a termfleet session it does nothing. Exit codes: 0 taken or nothing to do,
  1 refused or not delivered (never 2: Claude Code would read it as "block").`

type Env = Readonly<Record<string, string | undefined>>

/** A hook call ends sent, with nothing to do, or failed with a message for the user. */
export type HookOutcome = { readonly _tag: "Sent" } | { readonly _tag: "NotATermfleetSession" } | { readonly _tag: "Failed"; readonly message: string }

const failed = (message: string): HookOutcome => ({ _tag: "Failed", message })

/** The termfleet session of the tmux pane this runs in, asked of tmux itself (it finds its server through $TMUX). */
const sessionOfPane = (pane: string): Promise<string | null> =>
  new Promise((resolve) => {
    execFile("tmux", ["display-message", "-p", "-t", pane, "#{@tf_id}"], { timeout: 1000 }, (error, stdout) => {
      const id = error === null ? stdout.trim() : ""
      resolve(/^[0-9a-f]{12}$/.test(id) ? id : null)
    })
  })

/** `TERMFLEET_SESSION`, set by the daemon in the sessions it starts, else the pane's. */
export const findSession = (env: Env): Promise<string | null> => {
  const given = env[SessionEnv.session]
  if (given !== undefined && given !== "") return Promise.resolve(given)
  const pane = env["TMUX_PANE"]
  return pane !== undefined && env["TMUX"] !== undefined && /^%\d+$/.test(pane) ? sessionOfPane(pane) : Promise.resolve(null)
}

/** A file's text, trimmed; empty when the file is missing or unreadable. */
const readTrimmed = (path: string) => readFile(path, "utf8").then((text) => text.trim(), () => "")

const missing = (variable: string, path: string) => `${variable} ${JSON.stringify(path)}: the file is missing or empty`

/** The token `tokenSource` names: `null` to send none, a string to say what is wrong. */
const tokenFor = async (url: string, env: Env): Promise<{ readonly token: string | null } | string> => {
  const source = tokenSource(url, env)
  switch (source._tag) {
    case "Given":
      return { token: source.token }
    case "None":
      return { token: null }
    default: {
      const text = await readTrimmed(source.path)
      if (text !== "") return { token: text }
      return source._tag === "NamedFile" ? missing("TERMFLEET_TOKEN_FILE", source.path) : { token: null }
    }
  }
}

/**
 * The session's own hook credential, read from its file; a session an older
 * termfleet started holds the credential itself, or none (`undefined`: the
 * hook then finds a token as the command line does).
 */
const sessionCredential = async (env: Env): Promise<{ readonly token: string } | string | undefined> => {
  const file = env[SessionEnv.hookTokenFile]
  if (file) {
    const text = await readTrimmed(file)
    return text !== "" ? { token: text } : missing(SessionEnv.hookTokenFile, file)
  }
  const value = env[LEGACY_HOOK_TOKEN]
  return value ? { token: value } : undefined
}

/**
 * TLS trusting exactly the certificate in `file`, the one the daemon serves
 * (`SessionEnv.daemonCert`; it may be self-signed): it alone is the trust
 * anchor, and the daemon must present it, whatever names it carries (the
 * hook reaches the daemon at 127.0.0.1, which a certificate rarely names).
 */
const trusting = async (file: string): Promise<ConnectionOptions | string> => {
  try {
    const pem = await readFile(file, "utf8")
    const own = new X509Certificate(pem).fingerprint256
    return {
      ca: pem,
      // The file may hold the certificate without the authority that issued it.
      allowPartialTrustChain: true,
      checkServerIdentity: (_host: string, peer: PeerCertificate) =>
        peer.fingerprint256 === own ? undefined : new Error(`the daemon's certificate is not the one in ${file}`)
    }
  } catch (error) {
    return `${SessionEnv.daemonCert} ${JSON.stringify(file)}: ${error instanceof Error ? error.message : String(error)}`
  }
}

/**
 * One POST on a connection of its own, closed after: a kept-alive
 * connection would hold the hook (and the agent waiting for it) for seconds.
 */
const post = (url: URL, body: string, headers: Readonly<Record<string, string>>, tls: ConnectionOptions) =>
  new Promise<{ readonly status: number; readonly body: string } | Error>((resolve) => {
    const request = (url.protocol === "https:" ? httpsRequest : httpRequest)(url, {
      ...tls,
      method: "POST",
      agent: false,
      headers: { ...headers, "content-length": String(Buffer.byteLength(body)) },
      timeout: HOOK_TIMEOUT_MILLIS
    }, (response) => {
      const chunks: Array<Buffer> = []
      response.on("data", (chunk: Buffer) => chunks.push(chunk))
      response.on("end", () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }))
      response.on("error", resolve)
    })
    request.on("timeout", () => request.destroy(new Error(`no answer within ${HOOK_TIMEOUT_MILLIS} ms`)))
    request.on("error", resolve)
    request.end(body)
  })

// What of a refusal's body is shown: one line, no control characters.
const shown = (text: string) => text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, " ").slice(0, 300)

/** Posts one hook call. */
export const sendHook = async (agentName: string, payload: string, env: Env): Promise<HookOutcome> => {
  if (!(hookAgents as ReadonlyArray<string>).includes(agentName)) {
    return failed(`the agent is ${hookAgents.map((a) => `'${a}'`).join(" or ")}, not '${shown(agentName)}'`)
  }
  const agent = agentName as HookAgentName
  if (Buffer.byteLength(payload) > HOOK_INPUT_BYTES) return failed(`a hook payload is at most ${HOOK_INPUT_BYTES} bytes`)
  const session = await findSession(env)
  if (session === null) return { _tag: "NotATermfleetSession" }
  const body = fitPayload(payload, HOOK_PAYLOAD_BYTES)
  if (body === null) return failed(`a hook payload over ${HOOK_PAYLOAD_BYTES} bytes is cut to fit, and this one is not JSON that can be`)
  const url = env[SessionEnv.url] || env["TERMFLEET_URL"] || DEFAULT_URL
  if (!URL.canParse(url)) return failed(`the daemon's URL ${JSON.stringify(url)} is not a URL`)
  const token = (await sessionCredential(env)) ?? (await tokenFor(url, env))
  if (typeof token === "string") return failed(token)
  const target = new URL(`/hooks/${agent}`, url)
  const certFile = env[SessionEnv.daemonCert]
  const tls = target.protocol === "https:" && certFile ? await trusting(certFile) : {}
  if (typeof tls === "string") return failed(tls)
  const response = await post(target, body, {
    ...(token.token === null ? {} : { authorization: `Bearer ${token.token}` }),
    "content-type": "application/json",
    "x-termfleet-session": session
  }, tls)
  if (response instanceof Error) return failed(`the daemon at ${url} did not take the hook: ${response.message}`)
  if (response.status >= 200 && response.status < 300) return { _tag: "Sent" }
  return failed(`the daemon refused the hook (HTTP ${response.status}): ${shown(response.body)}`)
}

/** Standard input, whole, up to one byte past the bound (so an oversize payload is told as such). */
export const readStdin = (): Promise<string> =>
  new Promise((resolve) => {
    const chunks: Array<Buffer> = []
    let size = 0
    let finished = false
    const done = () => {
      if (finished) return
      finished = true
      process.stdin.destroy()
      resolve(Buffer.concat(chunks).toString("utf8"))
    }
    process.stdin.on("data", (chunk: Buffer) => {
      chunks.push(chunk)
      size += chunk.length
      if (size > HOOK_INPUT_BYTES) done()
    })
    process.stdin.on("end", done)
    process.stdin.on("error", done)
  })

/** Where `runHook` writes in a process of its own. */
export const processOutput = {
  stdout: (text: string) => void process.stdout.write(text),
  stderr: (text: string) => void process.stderr.write(text)
}

/** `hook AGENT [JSON]`: its exit code, having written what it has to say to `stderr` (`--help` to `stdout`). */
export const runHook = async (
  argv: ReadonlyArray<string>,
  env: Env,
  stdin: () => Promise<string>,
  write: { readonly stdout: (text: string) => void; readonly stderr: (text: string) => void }
): Promise<number> => {
  if (argv.includes("--help") || argv.includes("-h")) {
    write.stdout(`${hookUsage}\n`)
    return 0
  }
  const [agent, ...rest] = argv
  if (agent === undefined) {
    write.stderr(`${hookUsage}\n`)
    return 1
  }
  const payload = agent === "codex" ? rest.at(-1) ?? "" : await stdin()
  const outcome = await sendHook(agent, payload, env)
  if (outcome._tag !== "Failed") return 0
  write.stderr(`termfleet hook: ${outcome.message}\n`)
  return 1
}
