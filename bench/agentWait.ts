/**
 * An agent starts waiting → a client of another daemon sees it. Two real
 * `node dist/main.js daemon` processes, alpha and beta, on the run's Redis;
 * a session on alpha; a WebSocket client of beta subscribed to `sessions`.
 * Each call: the session is made `working` (Claude Code's
 * `UserPromptSubmit`) and beta's client sees it; then the clock starts and
 * `PermissionRequest` is sent to alpha, and stops when beta's client gets the
 * session `waiting`. Sent two ways: as the hook's own POST (what an `http`
 * hook, or `dist/hook.js` once started, does), and by starting `node
 * dist/hook.js claude` (what a command hook costs, process start included).
 *
 * Baseline, the same hops bare (`hookRaw.ts`): a POST to a `node:http`
 * server that XADDs the body, a blocking XREAD in another process that sends
 * it to its bare `ws` server's client; started the same two ways (the
 * second with a bare Node program that POSTs its stdin, `hookPost.ts`).
 */
import { spawn } from "node:child_process"
import { readFileSync } from "node:fs"
import { request } from "node:http"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import WebSocket from "ws"
import { MAIN, startDaemonB } from "./daemonB.js"
import type { Fleet } from "./pipelines.js"
import { hrNow, sleep, startBenchChild, stopChild, summarize, type Summary, track } from "./support.js"

export interface AgentWaitRound {
  /** The hook's POST to alpha → beta's client sees `waiting`. */
  readonly post: Summary
  readonly postBase: Summary
  /** `node dist/hook.js claude` started → beta's client sees `waiting`. */
  readonly command: Summary
  readonly commandBase: Summary
}

/**
 * Calls a round, each way; a pause between writes keeps alpha under its
 * limit of 20 writes a second (each termfleet call is two hook calls).
 */
export const AGENT_WAIT = { posts: 60, commands: 15, gapMs: 60 } as const

const HOOK = join(dirname(MAIN), "hook.js")
const HOOK_POST = fileURLToPath(new URL("./hookPost.js", import.meta.url))
const FIXTURES = fileURLToPath(new URL("../../../test/fixtures/hooks/", import.meta.url))
const payload = (name: string) => readFileSync(join(FIXTURES, `${name}.json`), "utf8")

type Log = (line: string) => void

/** One POST on a connection of its own, as the hook makes it; fails unless answered 2xx. */
const post = (url: string, body: string, headers: Record<string, string>) =>
  new Promise<void>((resolve, reject) => {
    const call = request(url, {
      method: "POST",
      agent: false,
      headers: { ...headers, "content-type": "application/json", "content-length": String(Buffer.byteLength(body)) }
    }, (response) => {
      response.resume()
      response.on("end", () => {
        const status = response.statusCode ?? 0
        if (status >= 200 && status < 300) resolve()
        else reject(new Error(`POST ${url}: HTTP ${status}`))
      })
    })
    call.on("error", reject)
    call.end(body)
  })

/** `node <args>` with `input` on stdin, to its exit; fails unless it exits 0. */
const runNode = (args: ReadonlyArray<string>, input: string, env: NodeJS.ProcessEnv = process.env) =>
  new Promise<void>((resolve, reject) => {
    const child = track(spawn(process.execPath, [...args], { env, stdio: ["pipe", "ignore", "inherit"] }))
    child.once("exit", (code) => (code === 0 ? resolve() : reject(new Error(`node ${args.join(" ")} exited ${code}`))))
    child.stdin?.end(input)
  })

const openWs = (url: string, headers: Record<string, string>) =>
  new Promise<WebSocket>((resolve, reject) => {
    const ws = new WebSocket(url, { headers, perMessageDeflate: false, handshakeTimeout: 10_000 })
    ws.once("open", () => resolve(ws))
    ws.once("error", reject)
  })

/** Resolves with the time of the first message `matches` accepts, from now on. */
const nextMessage = (ws: WebSocket, matches: (frame: any) => boolean, what: string) =>
  new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      ws.off("message", onMessage)
      reject(new Error(`${what}: not seen within 10 s`))
    }, 10_000)
    const onMessage = (data: Buffer) => {
      const at = hrNow()
      if (!matches(JSON.parse(data.toString()))) return
      clearTimeout(timer)
      ws.off("message", onMessage)
      resolve(at)
    }
    ws.on("message", onMessage)
  })

/** Times `calls` calls of `start`, each until `seen` resolves, `gapMs` apart; `before` readies each. */
const timed = async (calls: number, before: () => Promise<unknown>, seen: () => Promise<number>, start: () => Promise<void>) => {
  const latencies: Array<number> = []
  for (let i = 0; i < calls; i++) {
    await before()
    await sleep(AGENT_WAIT.gapMs)
    const shown = seen()
    const t0 = hrNow()
    const [, at] = await Promise.all([start(), shown])
    latencies.push(at - t0)
    await sleep(AGENT_WAIT.gapMs)
  }
  return summarize(latencies)
}

let pairs = 0

const termfleet = async (fleet: Fleet) => {
  const n = ++pairs
  const prefix = `bench-${fleet.pid}-agents-${n}:`
  const alpha = await startDaemonB({ ...fleet, computer: "alpha", prefix, tmuxSocket: `tfbench-${fleet.pid}-agents${n}-alpha` })
  const beta = await startDaemonB({ ...fleet, computer: "beta", prefix, tmuxSocket: `tfbench-${fleet.pid}-agents${n}-beta` })
  let ws: WebSocket | undefined
  try {
    const alphaUrl = `http://127.0.0.1:${alpha.port}`
    const created = await fetch(`${alphaUrl}/sessions`, {
      method: "POST",
      headers: { ...alpha.headers, "content-type": "application/json" },
      body: JSON.stringify({ title: "agent", command: "sleep 100000" })
    })
    const { sessionId } = (await created.json()) as { sessionId: string }
    ws = await openWs(beta.wsUrl, beta.headers)
    const socket = ws
    const ofSession = (state: string | null) => (frame: any) =>
      (frame.event === "sessions_initial" && state === null && frame.data.sessions.some((s: any) => s.sessionId === sessionId)) ||
      (frame.event === "session_updated" && frame.data.sessionId === sessionId && (state === null || frame.data.agent?.state === state))
    const there = nextMessage(socket, ofSession(null), "the session on beta")
    socket.send(JSON.stringify({ type: "subscribe", topic: "sessions" }))
    await there
    const hookUrl = `${alphaUrl}/hooks/claude`
    const headers = { ...alpha.headers, "x-termfleet-session": sessionId }
    const [working, waiting] = [payload("claude-UserPromptSubmit"), payload("claude-PermissionRequest")]
    const toWorking = async () => {
      const shown = nextMessage(socket, ofSession("working"), "working on beta")
      await post(hookUrl, working, headers)
      await shown
    }
    const seen = () => nextMessage(socket, ofSession("waiting"), "waiting on beta")
    const env: NodeJS.ProcessEnv = {}
    for (const [name, value] of Object.entries(process.env)) if (!name.startsWith("TERMFLEET_") && !name.startsWith("TMUX")) env[name] = value
    const hookEnv = { ...env, TERMFLEET_SESSION: sessionId, TERMFLEET_URL: alphaUrl, TERMFLEET_TOKEN: fleet.token }
    return {
      post: await timed(AGENT_WAIT.posts, toWorking, seen, () => post(hookUrl, waiting, headers)),
      command: await timed(AGENT_WAIT.commands, toWorking, seen, () => runNode([HOOK, "claude"], waiting, hookEnv))
    }
  } finally {
    ws?.close()
    await beta.stop()
    await alpha.stop()
  }
}

const raw = async (fleet: Fleet) => {
  const key = `bench-${fleet.pid}-agents-raw-${++pairs}:events`
  const a = await startBenchChild("hookRaw", ["a", fleet.redisUrl, key])
  const b = await startBenchChild("hookRaw", ["b", fleet.redisUrl, key])
  let ws: WebSocket | undefined
  try {
    ws = await openWs(`ws://127.0.0.1:${String(b.hello["port"])}/`, {})
    const socket = ws
    const url = `http://127.0.0.1:${String(a.hello["port"])}/hooks/claude`
    const working = JSON.parse(payload("claude-UserPromptSubmit")) as object
    const waiting = JSON.parse(payload("claude-PermissionRequest")) as object
    let seq = 0
    const body = (event: object) => JSON.stringify({ ...event, seq: ++seq })
    const seen = () => {
      const expected = seq + 1
      return nextMessage(socket, (body) => body.seq === expected, "the bare chain's message")
    }
    // Two calls a sample, as termfleet's: the first untimed.
    const before = async () => {
      const shown = seen()
      await post(url, body(working), {})
      await shown
    }
    return {
      postBase: await timed(AGENT_WAIT.posts, before, seen, () => post(url, body(waiting), {})),
      commandBase: await timed(AGENT_WAIT.commands, before, seen, () => runNode([HOOK_POST, url], body(waiting)))
    }
  } finally {
    ws?.close()
    await stopChild(a.child)
    await stopChild(b.child)
  }
}

export const measureAgentWait = async (fleet: Fleet, log: Log): Promise<AgentWaitRound> => {
  const tf = await termfleet(fleet)
  const base = await raw(fleet)
  const line = (s: Summary) => `p50 ${s.p50.toFixed(1)} ms, p99 ${s.p99.toFixed(1)} ms`
  log(`    hook POST to alpha → beta's client sees waiting: ${line(tf.post)} (bare hops ${line(base.postBase)})`)
  log(`    node dist/hook.js started → beta's client sees waiting: ${line(tf.command)} (bare node POST ${line(base.commandBase)})`)
  return { ...tf, ...base }
}
