/**
 * tmux before 3.7 can crash (every session of the user gone) when it tells
 * control clients of a change while another control client is still
 * attaching (tmux#4980). This drives LocalSessions as the API does: sessions
 * created and ended in bursts from many callers while others exist, each one
 * followed by its own control client; then asks whether the tmux server
 * lived. It also times start-up with SESSIONS existing sessions (layer
 * built → every session followed and captured).
 *
 *   npm run build && npx tsc -p tsconfig.bench.json && node dist/bench-build/bench/tmuxCrash.js [runs] [sessions]
 */
import { Context, Effect, Layer } from "effect"
import { execFileSync } from "node:child_process"
import { AgentState } from "../src/agent/AgentState.js"
import { SessionCache } from "../src/cache/SessionCache.js"
import { DaemonConfig, defaultSettings } from "../src/config/DaemonConfig.js"
import { LocalSessions } from "../src/local/LocalSessions.js"

const RUNS = Number(process.argv[2] ?? 10)
const SESSIONS = Number(process.argv[3] ?? 100)
/** Sessions created and ended per run, by this many callers at once. */
const CHURN = 60
const CALLERS = 4

const layer = (tmuxSocket: string) =>
  LocalSessions.layer.pipe(
    Layer.provideMerge(AgentState.layerAt("http://127.0.0.1:9")),
    Layer.provideMerge(SessionCache.layer),
    Layer.provideMerge(DaemonConfig.layer(defaultSettings({ computer: "bench", tmuxSocket })))
  )

const tmux = (socket: string, ...args: ReadonlyArray<string>) =>
  execFileSync("tmux", ["-L", socket, ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] })

const killServer = (socket: string) => {
  try {
    tmux(socket, "kill-server")
  } catch { /* already gone */ }
}

const serverPid = (socket: string) => Number(tmux(socket, "display-message", "-p", "#{pid}").trim())

const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** One run: a fresh server with 3 sessions, then CHURN creates, then as many ends, from CALLERS callers. Answers how tmux died, if it did. */
const churn = (socket: string) =>
  Effect.scoped(Effect.gen(function*() {
    const sessions = Context.get(yield* Layer.build(layer(socket)), LocalSessions)
    yield* Effect.forEach([1, 2, 3], (n) => sessions.create({ title: `kept-${n}`, command: "cat" }))
    const pid = serverPid(socket)
    const created = yield* Effect.forEach(
      Array.from({ length: CHURN }, (_, n) => n),
      (n) => Effect.option(sessions.create({ title: `churn-${n}`, command: "cat" })),
      { concurrency: CALLERS }
    )
    yield* Effect.forEach(created, (session) => Effect.ignore(Effect.flatMap(session, (s) => sessions.end(s.sessionId))), {
      concurrency: CALLERS,
      discard: true
    })
    return alive(pid) ? undefined : `tmux server ${pid} died`
  }))

const startup = (socket: string) =>
  Effect.gen(function*() {
    tmux(socket, "new-session", "-d", "-s", "seed", "cat")
    // Sessions termfleet made, as a previous daemon would have left them.
    yield* Effect.scoped(Effect.gen(function*() {
      const sessions = Context.get(yield* Layer.build(layer(socket)), LocalSessions)
      for (let n = 0; n < SESSIONS; n++) yield* sessions.create({ title: `s${n}`, command: "cat" })
    }))
    const start = performance.now()
    const followed = yield* Effect.scoped(Effect.gen(function*() {
      const sessions = Context.get(yield* Layer.build(layer(socket)), LocalSessions)
      return (yield* sessions.list).length
    }))
    return { ms: performance.now() - start, followed }
  })

const main = Effect.gen(function*() {
  let survived = 0
  for (let run = 0; run < RUNS; run++) {
    const socket = `tf-crash-${process.pid}-${run}`
    const died = yield* Effect.catchAll(churn(socket), (error) => Effect.succeed(error.message))
    if (died === undefined) survived++
    else console.log(`run ${run + 1}: ${died}`)
    killServer(socket)
  }
  console.log(`churn: tmux crashed in ${RUNS - survived} of ${RUNS} runs (${CHURN} creates+ends, ${CALLERS} callers)`)
  if (SESSIONS > 0) {
    const socket = `tf-crash-${process.pid}-startup`
    for (let round = 0; round < 3; round++) {
      const started = yield* Effect.either(startup(`${socket}-${round}`))
      if (started._tag === "Left") console.log(`start-up round ${round + 1}: ${started.left.message}`)
      else console.log(`start-up with ${started.right.followed} sessions: ${started.right.ms.toFixed(0)} ms`)
      killServer(`${socket}-${round}`)
    }
  }
})

Effect.runPromise(main).then(() => process.exit(0), (error) => {
  console.error(error)
  process.exit(1)
})
