/**
 * Start-up and footprint of the built `node dist/main.js`, each figure beside
 * its baseline measured in the same round, the median of ROUNDS rounds:
 * - `termfleet ls` against a running daemon: wall time and peak RSS, beside
 *   `node -e 0` (the least any Node program costs) and `curl` of the same
 *   `/sessions`;
 * - daemon start → first answered request, beside a bare `node:http` server's
 *   start → first answer;
 * - RSS of an idle local-only daemon, beside a bare `node:http` + `ws` server.
 */
import { execFileSync, type ChildProcess } from "node:child_process"
import { readFileSync, rmSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { MAIN } from "./daemonB.js"
import { freePort, hrNow, sleep, spawn, stopChild, tempDir, track, trackTmuxSocket } from "./support.js"

const ROUNDS = 5
/** How long a started process is left alone before its idle RSS is read. */
const SETTLE_MS = 3000
const SESSIONS = 3

/** Writes the process's peak RSS (KiB) to $BENCH_PEAK_RSS_FILE as it exits: loaded with `--import`. */
const PEAK_RSS_HOOK = fileURLToPath(new URL("./peakRss.js", import.meta.url))
const REPO = fileURLToPath(new URL("../../../", import.meta.url))

export interface Figure {
  /** Median over the rounds. */
  readonly median: number
  readonly min: number
  readonly max: number
}

export interface StartupResults {
  readonly rounds: number
  readonly ls: { readonly wallMs: Figure; readonly peakRssKiB: Figure }
  readonly nodeNoop: { readonly wallMs: Figure; readonly peakRssKiB: Figure }
  /** `undefined` when curl is not installed. */
  readonly curl: { readonly wallMs: Figure } | undefined
  readonly daemonFirstAnswerMs: Figure
  readonly bareHttpFirstAnswerMs: Figure
  readonly daemonIdleRssKiB: Figure
  readonly bareServerIdleRssKiB: Figure
}

const figure = (values: ReadonlyArray<number>): Figure => {
  const sorted = [...values].sort((a, b) => a - b)
  return { median: sorted[Math.floor(sorted.length / 2)] ?? NaN, min: sorted[0] ?? NaN, max: sorted.at(-1) ?? NaN }
}

const exited = (child: ChildProcess) =>
  new Promise<number>((resolve, reject) => {
    child.once("error", reject)
    child.once("exit", (code) => resolve(code ?? -1))
  })

/** Runs a command to its end: its wall time from spawn to exit, and with `peak`, its peak RSS through the hook. */
const timed = async (command: string, args: ReadonlyArray<string>, env: NodeJS.ProcessEnv, peak: boolean) => {
  const rssFile = join(tempDir("rss"), "peak")
  const start = hrNow()
  const child = track(spawn(command, peak ? ["--import", PEAK_RSS_HOOK, ...args] : [...args], {
    stdio: ["ignore", "ignore", "pipe"],
    env: peak ? { ...env, BENCH_PEAK_RSS_FILE: rssFile } : env
  }))
  let errors = ""
  child.stderr?.on("data", (chunk: Buffer) => void (errors += chunk.toString()))
  const code = await exited(child)
  const wallMs = hrNow() - start
  if (code !== 0) throw new Error(`${command} ${args.join(" ")} exited ${code}: ${errors}`)
  const peakRssKiB = peak ? Number(readFileSync(rssFile, "utf8")) : NaN
  rmSync(rssFile, { force: true })
  return { wallMs, peakRssKiB }
}

/**
 * Start → first answered `GET url`: a probe every 5 ms, each on its own
 * connection and left to run: a server may take a connection before it can
 * answer it, and a probe waiting on such a one must not hold the next back.
 */
const firstAnswer = async (child: ChildProcess, start: number, url: string, headers: Record<string, string>) => {
  const deadline = start + 30_000
  let answeredAt: number | undefined
  const probes: Array<Promise<void>> = []
  while (answeredAt === undefined) {
    if (child.exitCode !== null) throw new Error(`${url}: the server exited (${child.exitCode}) before answering`)
    if (hrNow() > deadline) throw new Error(`${url}: no answer within 30 s`)
    probes.push(
      fetch(url, { headers, signal: AbortSignal.timeout(5000) }).then(
        (response) => {
          if (response.ok) answeredAt ??= hrNow()
          return response.body?.cancel()
        },
        () => undefined
      )
    )
    await sleep(5)
  }
  await Promise.all(probes)
  return answeredAt - start
}

const rssKiB = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? NaN)

const hasCurl = () => {
  try {
    execFileSync("curl", ["--version"], { stdio: "ignore" })
    return true
  } catch {
    return false
  }
}

const cleanEnv = (): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = {}
  for (const [name, value] of Object.entries(process.env)) if (!name.startsWith("TERMFLEET_")) env[name] = value
  return env
}

/** One local-only daemon, as `node dist/main.js daemon` starts it: its first answer, its idle RSS, then `ls` against it. */
const daemonRound = async (round: number, curl: boolean) => {
  const port = await freePort()
  const token = `bench-startup-${process.pid}-${round}`
  const tmuxSocket = `tfbench-${process.pid}-startup-${round}`
  trackTmuxSocket(tmuxSocket)
  const env = cleanEnv()
  const start = hrNow()
  const daemon = track(spawn(process.execPath, [
    MAIN, "daemon", "--port", String(port), "--token", token, "--tmux-socket", tmuxSocket,
    "--state-dir", tempDir("startup"), "--computer", "startup"
  ], { stdio: "ignore", env }))
  try {
    const url = `http://127.0.0.1:${port}`
    const headers = { authorization: `Bearer ${token}` }
    const daemonFirstAnswerMs = await firstAnswer(daemon, start, `${url}/health`, headers)
    await sleep(SETTLE_MS)
    const daemonIdleRssKiB = rssKiB(daemon.pid ?? 0)

    for (let i = 0; i < SESSIONS; i++) {
      const created = await fetch(`${url}/sessions`, {
        method: "POST",
        headers: { ...headers, "content-type": "application/json", origin: url },
        body: JSON.stringify({ title: `bench ${i}`, command: "sleep 100000" })
      })
      if (created.status !== 201) throw new Error(`POST /sessions: ${created.status} ${await created.text()}`)
    }
    const lsEnv = { ...env, TERMFLEET_URL: url, TERMFLEET_TOKEN: token }
    // Interleaved, so load from elsewhere falls on both alike; peak RSS in a second run of each (the hook costs a little time).
    const noop = await timed(process.execPath, ["-e", "0"], env, false)
    const ls = await timed(process.execPath, [MAIN, "ls"], lsEnv, false)
    const curlRun = curl
      ? await timed("curl", ["-sf", "-o", "/dev/null", "-H", `authorization: Bearer ${token}`, `${url}/sessions`], env, false)
      : undefined
    const noopPeak = await timed(process.execPath, ["-e", "0"], env, true)
    const lsPeak = await timed(process.execPath, [MAIN, "ls"], lsEnv, true)
    return {
      daemonFirstAnswerMs,
      daemonIdleRssKiB,
      ls: { wallMs: ls.wallMs, peakRssKiB: lsPeak.peakRssKiB },
      noop: { wallMs: noop.wallMs, peakRssKiB: noopPeak.peakRssKiB },
      curlMs: curlRun?.wallMs
    }
  } finally {
    await stopChild(daemon, 5000)
  }
}

/** The baselines' servers: the least a Node HTTP server (and one with `ws`) costs. */
const BARE_HTTP = `require("node:http").createServer((q, s) => s.end("ok")).listen(Number(process.argv[1]), "127.0.0.1")`
const BARE_HTTP_WS = `import { createServer } from "node:http"; import { WebSocketServer } from "ws"
const server = createServer((q, s) => s.end("ok")); new WebSocketServer({ server })
server.listen(Number(process.argv[1]), "127.0.0.1")`

const bareRound = async () => {
  const port = await freePort()
  const start = hrNow()
  const http = track(spawn(process.execPath, ["-e", BARE_HTTP, String(port)], { stdio: "ignore" }))
  let bareHttpFirstAnswerMs: number
  try {
    bareHttpFirstAnswerMs = await firstAnswer(http, start, `http://127.0.0.1:${port}/`, {})
  } finally {
    await stopChild(http)
  }
  const wsPort = await freePort()
  // From the repository, so `ws` resolves as the daemon's does.
  const withWs = track(spawn(process.execPath, ["--input-type=module", "-e", BARE_HTTP_WS, String(wsPort)], {
    stdio: "ignore",
    cwd: REPO
  }))
  try {
    await firstAnswer(withWs, hrNow(), `http://127.0.0.1:${wsPort}/`, {})
    await sleep(SETTLE_MS)
    return { bareHttpFirstAnswerMs, bareServerIdleRssKiB: rssKiB(withWs.pid ?? 0) }
  } finally {
    await stopChild(withWs)
  }
}

export const measureStartup = async (log: (line: string) => void): Promise<StartupResults> => {
  const curl = hasCurl()
  const rounds: Array<Awaited<ReturnType<typeof daemonRound>> & Awaited<ReturnType<typeof bareRound>>> = []
  for (let round = 1; round <= ROUNDS; round++) {
    const daemon = await daemonRound(round, curl)
    const bare = await bareRound()
    rounds.push({ ...daemon, ...bare })
    log(
      `    round ${round}: ls ${daemon.ls.wallMs.toFixed(0)} ms / ${(daemon.ls.peakRssKiB / 1024).toFixed(0)} MB, ` +
        `node -e 0 ${daemon.noop.wallMs.toFixed(0)} ms / ${(daemon.noop.peakRssKiB / 1024).toFixed(0)} MB` +
        (daemon.curlMs === undefined ? "" : `, curl ${daemon.curlMs.toFixed(0)} ms`) +
        `; daemon first answer ${daemon.daemonFirstAnswerMs.toFixed(0)} ms (bare http ${bare.bareHttpFirstAnswerMs.toFixed(0)} ms); ` +
        `idle RSS ${(daemon.daemonIdleRssKiB / 1024).toFixed(0)} MB (bare http+ws ${(bare.bareServerIdleRssKiB / 1024).toFixed(0)} MB)`
    )
  }
  const of = (pick: (r: typeof rounds[number]) => number) => figure(rounds.map(pick))
  return {
    rounds: ROUNDS,
    ls: { wallMs: of((r) => r.ls.wallMs), peakRssKiB: of((r) => r.ls.peakRssKiB) },
    nodeNoop: { wallMs: of((r) => r.noop.wallMs), peakRssKiB: of((r) => r.noop.peakRssKiB) },
    curl: curl ? { wallMs: of((r) => r.curlMs ?? NaN) } : undefined,
    daemonFirstAnswerMs: of((r) => r.daemonFirstAnswerMs),
    bareHttpFirstAnswerMs: of((r) => r.bareHttpFirstAnswerMs),
    daemonIdleRssKiB: of((r) => r.daemonIdleRssKiB),
    bareServerIdleRssKiB: of((r) => r.bareServerIdleRssKiB)
  }
}

const ms = (f: Figure) => `${f.median.toFixed(0)} ms (${f.min.toFixed(0)}–${f.max.toFixed(0)})`
const mib = (f: Figure) => `${(f.median / 1024).toFixed(0)} MB (${(f.min / 1024).toFixed(0)}–${(f.max / 1024).toFixed(0)})`
const times = (a: Figure, b: Figure) => `×${(a.median / b.median).toFixed(1)}`

/** Rows for the benchmark's table: figure, termfleet, baseline, ratio. */
export const startupRows = (s: StartupResults): Array<[string, string, string, string]> => [
  [
    `start-up: \`termfleet ls\` against a running daemon (${SESSIONS} sessions), wall time (median of ${s.rounds}, min–max; goal ≤ 3× \`node -e 0\`)`,
    ms(s.ls.wallMs),
    `${ms(s.nodeNoop.wallMs)} (\`node -e 0\`)` + (s.curl === undefined ? "" : `; \`curl\` of the same /sessions: ${ms(s.curl.wallMs)}`),
    times(s.ls.wallMs, s.nodeNoop.wallMs)
  ],
  [
    `footprint: \`termfleet ls\` peak RSS (goal < 70 MB)`,
    mib(s.ls.peakRssKiB),
    `${mib(s.nodeNoop.peakRssKiB)} (\`node -e 0\`)`,
    times(s.ls.peakRssKiB, s.nodeNoop.peakRssKiB)
  ],
  [
    `start-up: \`termfleet daemon\` (local-only) start → first answered request (goal ≤ 500 ms)`,
    ms(s.daemonFirstAnswerMs),
    `${ms(s.bareHttpFirstAnswerMs)} (bare \`node:http\` server)`,
    times(s.daemonFirstAnswerMs, s.bareHttpFirstAnswerMs)
  ],
  [
    `footprint: idle local-only daemon RSS, ${SETTLE_MS / 1000} s after its first answer (goal < 70 MB)`,
    mib(s.daemonIdleRssKiB),
    `${mib(s.bareServerIdleRssKiB)} (bare \`node:http\` + \`ws\` server)`,
    times(s.daemonIdleRssKiB, s.bareServerIdleRssKiB)
  ]
]

/** How the start-up figures are measured, for BENCHMARKS.md. */
export const startupMethod = (s: StartupResults) => `### Start-up and footprint

${s.rounds} rounds; each figure is the median (min–max in brackets), each baseline
measured in the same round. In each round a local-only daemon is started as a
user starts it (\`node dist/main.js daemon --port P --token T --tmux-socket S
--state-dir D\`). **First answer**: from \`spawn\` to the first \`200\` of
\`GET /health\`, probed every 5 ms, each probe on its own connection and left to
run (a connection the server takes before its routes are served would hold a
probe that waited on it). Baseline: the same for a bare \`node:http\` server
(\`node -e 'http.createServer(...).listen(P)'\`). **Idle RSS**: \`VmRSS\` of
the daemon's process ${SETTLE_MS / 1000} s after its first answer, with no client;
baseline: a bare \`node:http\` server with a \`ws\` WebSocket server on it, read
the same way. Then ${SESSIONS} sessions are created and, in turn, \`node -e 0\`,
\`node dist/main.js ls\` (with \`TERMFLEET_URL\` and \`TERMFLEET_TOKEN\`) and
\`curl -sf\` of the same \`/sessions\` are run to their end: **wall time** from
\`spawn\` to exit. **Peak RSS**: a second run of \`node -e 0\` and of \`ls\` with
\`--import bench/peakRss.ts\`, which writes \`process.resourceUsage().maxRSS\` as
the process exits.
`
