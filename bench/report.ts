/** The table printed at the end of `npm run bench`, and BENCHMARKS.md around it. */
import { AGENT_WAIT, type AgentWaitRound } from "./agentWait.js"
import { type Attempted, LATENCY_RUNS, MAX_ATTEMPTS, type Round } from "./compare.js"
import { Limits } from "../src/domain/Limits.js"
import { TERMINALS, type TerminalsRound } from "./terminals.js"
import { MAX_LAG_MS, passed, type RunResult, STEP_MS, STEP_RATES, type Throughput, TOP_RATE } from "./pipelines.js"
import { type StartupResults, startupMethod, startupRows } from "./startup.js"
import { benchSession, FANOUT, stamp, type Summary } from "./support.js"

/** The JSON of one session as the pipelines send it. */
const SESSION_BYTES = Buffer.byteLength(JSON.stringify(benchSession("alpha", 1, stamp("lat1000", 1234, 123456789.1234))))

export interface Machine {
  readonly cpu: string
  readonly cores: number
  readonly memoryGiB: number
  readonly node: string
  readonly kernel: string
  readonly redis: string
  readonly tmux: string
}

interface Burst {
  readonly changes: number
  readonly xadds: number
  readonly commands: number
  readonly eventsOut: number
}

interface Initial {
  readonly firstByte: Summary
  readonly lastByte: Summary
  readonly bytes: number
  /** The first of the clients: for termfleet, the one that serialises the sessions. */
  readonly first: { readonly firstByte: number; readonly lastByte: number }
}

export interface IdleCost {
  readonly seconds: number
  readonly tmuxPerSecond: number
  readonly cpuPercent: number
  readonly childrenCpuPercent: number
  readonly tmuxServerCpuPercent: number
}

export interface MemoryStage {
  readonly rss: number
  readonly heapUsed: number
  readonly rssAfterGc: number
  readonly heapAfterGc: number
}

export interface Others {
  /** Measured in rounds of their own (bench/startup.ts). */
  readonly startup: StartupResults
  readonly interest: ReadonlyArray<Attempted<{ readonly toXadd: Summary; readonly toClient: Summary }>>
  readonly quiet: ReadonlyArray<Attempted<{ readonly quiet: Burst; readonly control: Burst }>>
  readonly initial: ReadonlyArray<Attempted<{
    readonly initial: Initial
    readonly initialBase: Initial
    readonly memory: { readonly empty: MemoryStage; readonly sessions: MemoryStage }
  }>>
  readonly idle: ReadonlyArray<Attempted<IdleCost & { readonly sessions: number; readonly base: IdleCost }>>
}

export interface Results {
  /** Empty when not run (BENCH_ONLY=<another scenario>). */
  readonly comparison: ReadonlyArray<Round>
  /** An agent starts waiting → another daemon's client; absent when not run. */
  readonly agentWait?: ReadonlyArray<Attempted<AgentWaitRound>>
  /** Live terminals: a local and a remote viewer beside a \`tmux -C\` client; absent when not run. */
  readonly terminals?: ReadonlyArray<Attempted<TerminalsRound>>
  /** Absent when only the comparison was run (BENCH_ONLY=compare). */
  readonly others?: Others
}

export interface RunEnv {
  readonly date: Date
  readonly machine: Machine
  readonly totalSeconds: number
  readonly loadBefore: ReadonlyArray<number>
  readonly loadAfter: ReadonlyArray<number>
  /** Cores busy on average with processes that are not the benchmark's. */
  readonly otherCores: number
  readonly benchCores: number
  readonly otherCoresLimit: number
}

// ---------------------------------------------------------------------------
// Numbers

const ms = (x: number) => (Number.isNaN(x) ? "—" : x < 10 ? x.toFixed(2) : x < 100 ? x.toFixed(1) : x.toFixed(0))
const cpuMs = (x: number) => (Number.isNaN(x) ? "—" : x.toFixed(3))
const int = (n: number) => (Number.isNaN(n) ? "—" : Math.round(n).toLocaleString("en-US"))
const mbOf = (bytes: number) => bytes / 1024 / 1024
const mb = (bytes: number) => `${mbOf(bytes).toFixed(0)} MB`

interface Spread {
  readonly median: number
  readonly min: number
  readonly max: number
}

const spread = (values: ReadonlyArray<number>): Spread => {
  const sorted = values.filter((v) => !Number.isNaN(v)).sort((a, b) => a - b)
  if (sorted.length === 0) return { median: NaN, min: NaN, max: NaN }
  const mid = Math.floor(sorted.length / 2)
  const median = sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
  return { median, min: sorted[0]!, max: sorted[sorted.length - 1]! }
}

/** The median over the rounds, and in brackets the lowest and highest round. */
const show = (s: Spread, f: (x: number) => string) => `${f(s.median)} (${f(s.min)}–${f(s.max)})`
const ratio = (a: number, b: number) => (Number.isFinite(a / b) && b > 0 ? `×${(a / b).toFixed(a / b < 10 ? 2 : 0)}` : "—")

const over = <R>(rounds: ReadonlyArray<R>, f: (r: R) => number) => spread(rounds.map(f))

const sustained = (t: Throughput) => t.best?.rate ?? 0

// ---------------------------------------------------------------------------
// The side-by-side table

type Side = "termfleet" | "peer"

interface Row {
  readonly figure: string
  readonly termfleet: string
  readonly peer: string
  readonly vsPeer: string
  readonly baseline: string
  readonly vsBaseline: string
}

/** Several values of one figure (p50 / p99, or B / A), each median (spread), and ratios of medians. */
const multi = (
  rounds: ReadonlyArray<Round>,
  figure: string,
  parts: ReadonlyArray<{ of: (r: Round, side: Side) => number; base?: (r: Round) => number }>,
  f: (x: number) => string,
  baseNote = ""
): Row => {
  const side = (s: Side) => parts.map((p) => over(rounds, (r) => p.of(r, s)))
  const tf = side("termfleet")
  const peer = side("peer")
  const base = parts.map((p) => (p.base === undefined ? undefined : over(rounds, p.base)))
  const hasBase = base.every((b) => b !== undefined)
  return {
    figure,
    termfleet: tf.map((s) => show(s, f)).join(" / "),
    peer: peer.map((s) => show(s, f)).join(" / "),
    vsPeer: tf.map((s, i) => ratio(s.median, peer[i]!.median)).join(" / "),
    baseline: hasBase ? `${base.map((s) => show(s!, f)).join(" / ")}${baseNote}` : "—",
    vsBaseline: hasBase ? tf.map((s, i) => ratio(s.median, base[i]!.median)).join(" / ") : "—"
  }
}

const lat = (r: Round, side: Side, rate: number) => r[side].value.latency[rate]!.latency
const hops = (r: Round, rate: number) => ({
  p50: r.redis.value.latency[rate]!.latency.p50 + r.ws.value.latency[rate]!.latency.p50,
  p99: r.redis.value.latency[rate]!.latency.p99 + r.ws.value.latency[rate]!.latency.p99
})

const comparisonRows = (rounds: ReadonlyArray<Round>): ReadonlyArray<Row> => {
  const rows: Array<Row> = []
  for (const { rate } of LATENCY_RUNS) {
    rows.push(multi(rounds, `A → B's client at ${int(rate)} ev/s, p50 / p99 (ms)`, [
      { of: (r, s) => lat(r, s, rate).p50, base: (r) => hops(r, rate).p50 },
      { of: (r, s) => lat(r, s, rate).p99, base: (r) => hops(r, rate).p99 }
    ], ms, " (redis XADD→XREAD + bare ws send)"))
  }
  rows.push(multi(rounds, "zero-loss throughput (ev/s)", [{
    of: (r, s) => sustained(r[s].value.throughput),
    base: (r) => Math.min(sustained(r.redis.value.throughput), sustained(r.ws.value.throughput))
  }], int, " (the slower raw hop)"))
  rows.push(multi(rounds, `one change on A → ${int(FANOUT.clients)} clients of B, p50 / p99 (ms)`, [
    { of: (r, s) => r[s].value.fanout.latency.p50, base: (r) => r.ws.value.fanout.latency.p50 },
    { of: (r, s) => r[s].value.fanout.latency.p99, base: (r) => r.ws.value.fanout.latency.p99 }
  ], ms, ` (bare ws server → ${int(FANOUT.clients)} clients)`))
  rows.push(multi(rounds, "CPU per event at 1,000 ev/s, B / A (ms)", [
    { of: (r, s) => r[s].value.cpu.b },
    { of: (r, s) => r[s].value.cpu.a }
  ], cpuMs))
  rows.push(multi(rounds, `RSS of B with ${int(FANOUT.clients)} clients (MB)`, [
    { of: (r, s) => mbOf(r[s].value.rssWithClients), base: (r) => mbOf(r.ws.value.rssWithClients) }
  ], (x) => x.toFixed(0), ` (bare ws server, ${int(FANOUT.clients)} clients)`))
  rows.push(multi(rounds, "RSS of B idle, no client (MB)", [{ of: (r, s) => mbOf(r[s].value.idleRss) }], (x) => x.toFixed(0)))
  rows.push(multi(rounds, "start-up of B: process started → serving, connected to Redis (ms)", [
    { of: (r, s) => r[s].value.startupMs }
  ], (x) => x.toFixed(0)))
  const withSessions = (r: Round) => r.withSessions.value
  rows.push(multi(rounds, "termfleet's B serving 100 idle tmux sessions: at 1,000 ev/s p50 / p99 (ms); CPU per event, B (ms)", [
    { of: (r, s) => (s === "termfleet" ? withSessions(r).latency[1000]!.latency.p50 : lat(r, "peer", 1000).p50) },
    { of: (r, s) => (s === "termfleet" ? withSessions(r).latency[1000]!.latency.p99 : lat(r, "peer", 1000).p99) },
    { of: (r, s) => (s === "termfleet" ? withSessions(r).cpu.b : r.peer.value.cpu.b) }
  ], (x) => (x < 1 ? cpuMs(x) : ms(x))))
  return rows
}

export const renderTable = (r: Results): string => {
  const escape = (cell: string) => cell.replaceAll("|", "\\|")
  return [
    "| figure | termfleet | socket.io 4.8 + redis-streams-adapter 0.3 | termfleet ÷ peer | raw baseline | termfleet ÷ baseline |",
    "| --- | --- | --- | --- | --- | --- |",
    ...comparisonRows(r.comparison).map((row) =>
      `| ${[row.figure, row.termfleet, row.peer, row.vsPeer, row.baseline, row.vsBaseline].map(escape).join(" | ")} |`
    )
  ].join("\n")
}

// ---------------------------------------------------------------------------
// Details

const attemptNote = (a: Attempted<unknown>) =>
  `${a.otherCores.toFixed(2)}${a.discarded.length === 0 ? "" : ` (measured again: ${a.discarded.map((x) => x.toFixed(2)).join(", ")})`}`

const roundDetails = (rounds: ReadonlyArray<Round>) => {
  const lines = [
    "| round | system | other processes' cores (attempts measured again) | 100 ev/s p50 / p99 | 1,000 ev/s p50 / p99 | CPU/event B / A | zero-loss ev/s | fan-out p50 / p99 | RSS with clients / idle | start-up |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
  ]
  for (const round of rounds) {
    const l = (x: Record<number, RunResult>, rate: number) => `${ms(x[rate]!.latency.p50)} / ${ms(x[rate]!.latency.p99)} ms`
    for (const key of round.order) {
      const name = key === "peer" ? "socket.io" : key === "withSessions" ? "termfleet, B with 100 tmux sessions" : key
      const a = round[key as "termfleet" | "peer" | "withSessions" | "redis" | "ws"]
      const v = a.value as Partial<Round["termfleet"]["value"]> & { latency: Record<number, RunResult> }
      lines.push([
        `| ${round.index}`,
        name,
        attemptNote(a),
        l(v.latency, 100),
        l(v.latency, 1000),
        v.cpu === undefined ? "" : `${cpuMs(v.cpu.b)} / ${cpuMs(v.cpu.a)} ms`,
        v.throughput === undefined ? "" : int(sustained(v.throughput)),
        v.fanout === undefined ? "" : `${ms(v.fanout.latency.p50)} / ${ms(v.fanout.latency.p99)} ms (${int(v.fanout.delivered)}/${int(v.fanout.expected)})`,
        v.rssWithClients === undefined ? "" : `${mb(v.rssWithClients)}${v.idleRss === undefined ? "" : ` / ${mb(v.idleRss)}`}`,
        v.startupMs === undefined ? "" : `${v.startupMs.toFixed(0)} ms`
      ].join(" | ") + " |")
    }
  }
  return lines.join("\n")
}

const splitDetails = (rounds: ReadonlyArray<Round>) => {
  const lines = ["| round | rate | change on A → readable in B's stream, p50 / p99 | B's stream → B's client, p50 / p99 |", "| --- | --- | --- | --- |"]
  for (const round of rounds) {
    for (const { rate } of LATENCY_RUNS) {
      const split = round.termfleet.value.split?.[rate]?.split
      if (split === undefined) continue
      lines.push(`| ${round.index} | ${int(rate)}/s | ${ms(split.toStream.p50)} / ${ms(split.toStream.p99)} ms | ${ms(split.fromStream.p50)} / ${ms(split.fromStream.p99)} ms |`)
    }
  }
  return lines.join("\n")
}

const throughputDetails = (rounds: ReadonlyArray<Round>) => {
  const lines = [
    "| round | pipeline | steps (offered ev/s: result, p99) |",
    "| --- | --- | --- |"
  ]
  for (const round of rounds) {
    for (const key of ["termfleet", "peer", "redis", "ws"] as const) {
      const t = round[key].value.throughput
      lines.push(`| ${round.index} | ${key === "peer" ? "socket.io" : key} | ${t.steps.map((s) =>
        `${int(s.rate)}: ${passed(s) ? "pass" : `fail (${int(s.received)}/${int(s.sent)}${s.closed > 0 ? ", client closed" : ""})`}, ${ms(s.latency.p99)} ms` +
        (s.hops === undefined ? "" : `, A pushed ${int(s.hops.pushed)} / B applied ${int(s.hops.applied)}`)
      ).join("; ")} |`)
    }
  }
  return lines.join("\n")
}

const otherRows = (o: Others): ReadonlyArray<[string, string, string, string]> => {
  const v = <A>(xs: ReadonlyArray<Attempted<A>>) => xs.map((x) => x.value)
  const ini = v(o.initial)
  const first = over(ini, (x) => x.initial.firstByte.p50)
  const last = over(ini, (x) => x.initial.lastByte.p50)
  const baseFirst = over(ini, (x) => x.initialBase.firstByte.p50)
  const baseLast = over(ini, (x) => x.initialBase.lastByte.p50)
  const interest = v(o.interest)
  const toXadd = over(interest, (x) => x.toXadd.p50)
  const toClient = over(interest, (x) => x.toClient.p50)
  const quiet = v(o.quiet)
  const idle = v(o.idle)
  const idleCpu = over(idle, (x) => x.cpuPercent)
  const baseCpu = over(idle, (x) => x.base.cpuPercent)
  const bytes = ini[0]?.initial.bytes ?? 0
  return [
    [
      `initial load: sessions_initial with 10,000 sessions of 20 computers (${(bytes / 1024 / 1024).toFixed(1)} MB) after subscribe, first byte / last byte (p50 of 5 clients a round)`,
      `${show(first, ms)} / ${show(last, ms)} ms`,
      `${show(baseFirst, ms)} / ${show(baseLast, ms)} ms (bare ws, the same frame already serialised)`,
      `${ratio(first.median, baseFirst.median)} / ${ratio(last.median, baseLast.median)}`
    ],
    [
      "interest propagation: subscribe on B → A's first entry XADDed to B / shown to B's client (p50 of 5 a round)",
      `${show(toXadd, ms)} / ${show(toClient, ms)} ms`,
      "—",
      "—"
    ],
    [
      "traffic with no interested peer: XADDs for 1,000 changes on A while B has no subscribed client",
      show(over(quiet, (x) => x.quiet.xadds), int),
      `control, one client subscribed on B: ${show(over(quiet, (x) => x.control.xadds), int)}`,
      "—"
    ],
    [
      "memory of a daemon (no Redis): empty / with 10,000 cached sessions (RSS, MB)",
      `${show(over(ini, (x) => mbOf(x.memory.empty.rss)), (n) => n.toFixed(0))} / ${show(over(ini, (x) => mbOf(x.memory.sessions.rss)), (n) => n.toFixed(0))}`,
      "—",
      "—"
    ],
    [
      `idle cost with ${idle[0]?.sessions ?? 0} idle local sessions: daemon CPU (% of one core); tmux invocations per second`,
      `${show(idleCpu, (n) => n.toFixed(2))} %; ${show(over(idle, (x) => x.tmuxPerSecond), (n) => n.toFixed(2))}`,
      `${show(baseCpu, (n) => n.toFixed(2))} %; ${show(over(idle, (x) => x.base.tmuxPerSecond), (n) => n.toFixed(2))} (bare poller: one tmux listing a second)`,
      ratio(idleCpu.median, baseCpu.median)
    ]
  ]
}

const otherTable = (o: Others) =>
  [
    "| figure | termfleet | baseline (same run) | termfleet ÷ baseline |",
    "| --- | --- | --- | --- |",
    ...[...otherRows(o), ...startupRows(o.startup)].map((row) => `| ${row.map((c) => c.replaceAll("|", "\\|")).join(" | ")} |`),
    "",
    `Other processes' cores during each round of these figures: ${(["initial", "interest", "quiet", "idle"] as const)
      .map((k) => `${k} ${o[k].map(attemptNote).join("; ")}`).join("; ")}.`
  ].join("\n")

/** An agent starts waiting → another daemon's client: termfleet beside the same hops bare, each started two ways. */
export const agentWaitTable = (rounds: ReadonlyArray<Attempted<AgentWaitRound>>) => {
  const v = rounds.map((x) => x.value)
  const row = (figure: string, of: (x: AgentWaitRound) => Summary, base: (x: AgentWaitRound) => Summary, baseNote: string) => {
    const [p50, p99, b50, b99] = [over(v, (x) => of(x).p50), over(v, (x) => of(x).p99), over(v, (x) => base(x).p50), over(v, (x) => base(x).p99)]
    return `| ${figure} | ${show(p50, ms)} / ${show(p99, ms)} | ${show(b50, ms)} / ${show(b99, ms)} ${baseNote} | ${ratio(p50.median, b50.median)} / ${ratio(p99.median, b99.median)} |`
  }
  return [
    "| figure, p50 / p99 (ms) | termfleet | raw baseline (same run) | termfleet ÷ baseline |",
    "| --- | --- | --- | --- |",
    row(`the hook's POST to A → B's client sees the session \`waiting\` (${AGENT_WAIT.posts} calls a round)`, (x) => x.post, (x) => x.postBase,
      "(POST to a bare node:http server → XADD → XREAD → bare ws send)"),
    row(`\`node dist/hook.js claude\` started → B's client sees it (${AGENT_WAIT.commands} calls a round)`, (x) => x.command, (x) => x.commandBase,
      "(a bare Node program POSTing its stdin, then the same hops)"),
    "",
    `Other processes' cores during each round: ${rounds.map(attemptNote).join("; ")}.`
  ].join("\n")
}

const agentWaitSection = (rounds: ReadonlyArray<Attempted<AgentWaitRound>>) => `
## An agent starts waiting → the client of another daemon

Median of the ${rounds.length} rounds, lowest and highest round in brackets (\`BENCH_ONLY=agents\` runs only this).

${agentWaitTable(rounds)}

- **termfleet**: two \`node dist/main.js daemon\` processes, A and B, on the run's redis-server; a session
  on A (running \`sleep\`); a WebSocket client of B (in the benchmark's process) subscribed to \`sessions\`.
  Each call: Claude Code's \`UserPromptSubmit\` is posted to A and B's client sees the session \`working\`;
  then the clock starts, \`PermissionRequest\` (the payload of \`test/fixtures/hooks/\`) reaches A, and the
  clock stops when B's client gets the session \`waiting\`: A decodes the hook, updates the agent's state and
  its cache, seals and XADDs the change to B's stream; B reads, checks and applies it, and sends it to its client.
  Sent as the hook's own POST (a connection of its own, as \`dist/hook.js\` makes it, or an \`http\` hook), and by
  starting \`node dist/hook.js claude\` with the payload on stdin (what a command hook costs, process start
  included). Calls are ${AGENT_WAIT.gapMs} ms apart, so A stays under its 20 writes a second.
- **Baseline** (\`bench/hookRaw.ts\`): the same hops with nothing else: a POST to a bare \`node:http\` server
  that XADDs the body and answers 204, and in another process a blocking XREAD that sends each entry to its bare
  \`ws\` server's client; started the same two ways, the second by a bare Node program that POSTs its stdin
  (\`bench/hookPost.ts\`), each timed call preceded by an untimed one, as termfleet's.
`

/** Live terminals: the local viewer beside a \`tmux -C\` client of the same pane, the remote one beside that client plus the raw hops. */
export const terminalsTable = (rounds: ReadonlyArray<Attempted<TerminalsRound>>) => {
  const v = rounds.map((x) => x.value)
  const three = (of: (x: TerminalsRound) => Summary) =>
    [over(v, (x) => of(x).p50), over(v, (x) => of(x).p99), over(v, (x) => of(x).max)]
  const row = (figure: string, tf: ReadonlyArray<Spread>, base: ReadonlyArray<Spread>, baseline: string) =>
    `| ${figure} | ${tf.map((s) => show(s, ms)).join(" / ")} | ${baseline}: ${base.map((s) => show(s, ms)).join(" / ")} | ${
      tf.map((s, i) => ratio(s.median, base[i]!.median)).join(" / ")
    } |`
  const latency = (figure: string, of: (x: TerminalsRound) => Record<"local" | "remote" | "tmux", Summary>, remote: (x: TerminalsRound) => Summary, hops: string) => [
    row(`${figure}, local viewer`, three((x) => of(x).local), three((x) => of(x).tmux), "`tmux -C` client"),
    row(`${figure}, remote viewer`, three((x) => of(x).remote), three(remote), `\`tmux -C\` client + ${hops}`)
  ]
  const mbps = (x: number) => (Number.isNaN(x) ? "—" : x.toFixed(1))
  const [tmuxRate, rawRate] = [over(v, (x) => x.throughput.tmux), over(v, (x) => x.throughput.raw)]
  const rate = (viewer: "local" | "remote") => {
    const tf = over(v, (x) => x.throughput[viewer])
    const base = viewer === "local" ? tmuxRate.median : Math.min(tmuxRate.median, rawRate.median)
    return `| ${TERMINALS.burstBytes / 1024 / 1024} MB written as fast as the pane takes it → ${viewer} viewer (MB/s, from its first byte) | ${show(tf, mbps)} | ${
      viewer === "local" ? "" : `the slower of: `
    }\`tmux -C\` client alone: ${show(tmuxRate, mbps)}${viewer === "local" ? "" : `; raw hops: ${show(rawRate, mbps)}`} | ${ratio(tf.median, base)} |`
  }
  const perMB = (of: (x: TerminalsRound) => number) => show(over(v, (x) => of(x) * 1000), (x) => x.toFixed(0))
  return [
    "| figure | termfleet | baseline (same run) | termfleet ÷ baseline |",
    "| --- | --- | --- | --- |",
    ...latency(`pane output → viewer, p50 / p99 / max (ms, ${TERMINALS.stamps} lines a round)`, (x) => x.output, (x) => x.remoteBaseline.output, "a raw hop"),
    ...latency(`keystroke → its echo back in the viewer, p50 / p99 / max (ms, ${TERMINALS.keys} keys a round)`, (x) => x.echo, (x) => x.remoteBaseline.echo, "two raw hops"),
    `| one raw hop alone (XADD → XREAD → bare \`ws\` → client), p50 / p99 / max (ms) | — | ${three((x) => x.rawHop).map((s) => show(s, ms)).join(" / ")} | — |`,
    rate("local"),
    rate("remote"),
    `| fresh snapshots a viewer got during the burst instead of its bytes (local / remote; 0: every byte came) | ${
      show(over(v, (x) => x.burstSnapshots.local), String)
    } / ${show(over(v, (x) => x.burstSnapshots.remote), String)} | — | — |`,
    `| CPU per MB of the burst (ms): A (owner) / B (remote viewer's daemon) / A's tmux server | ${perMB((x) => x.cpuPerMB.a)} / ${
      perMB((x) => x.cpuPerMB.b)
    } / ${perMB((x) => x.cpuPerMB.tmuxA)} | tmux server of the lone \`tmux -C\` client: ${perMB((x) => x.cpuPerMB.tmuxAlone)} | — |`,
    "",
    `Other processes' cores during each round: ${rounds.map(attemptNote).join("; ")}.`
  ].join("\n")
}

const terminalsSection = (rounds: ReadonlyArray<Attempted<TerminalsRound>>) => `
## Live terminals

Median of the ${rounds.length} rounds, lowest and highest round in brackets (\`BENCH_ONLY=terminals\` runs only this).

${terminalsTable(rounds)}

Two \`node dist/main.js daemon\` processes, A and B, on the run's redis-server; a session on A running \`sh\`.
Attached to it at once: a viewer on A's \`/ws\` (local), a viewer on B's \`/ws\` (remote: the pane's output
reaches it through Redis), both in the benchmark's process, and a \`tmux -C\` control client of the same pane
(what any tmux front end reads; its \`%output\` lines unescaped). All read the same bytes:

- **Pane output**: a program in the pane (\`bench/paneStamps.ts\`) writes ${TERMINALS.stamps} lines \`S<time>\`,
  ${TERMINALS.gapMs} ms apart, each stamped (the system-wide monotonic clock) just before it is written; each
  reader subtracts the stamp from the time the line reaches it.
- **Keystroke → echo**: one key at a time, from each reader in turn (a viewer's \`keys\` message; \`send-keys -l\`
  for tmux), timed until its echo (the pane's line discipline, at the shell's prompt) reaches that reader.
- **Baselines**: the local viewer's is the \`tmux -C\` client. The remote viewer's is, as issue 12 defines it,
  that client plus the raw hops the bytes take between the daemons: a raw hop is an XADD from the benchmark's
  process, read by a blocking XREAD in another process (\`bench/hookRaw.ts\`, as in the agents scenario) which
  sends it to its bare \`ws\` server's client in the benchmark's process; ${TERMINALS.stamps} of them, stamped as the
  pane's lines, at the same pace. The baseline's i-th sample is the client's i-th latency plus the i-th raw hop
  (an echo crosses twice, keys to A and the echo back: two raw hops).
- **Throughput**: with the \`tmux -C\` client gone (each control client costs the tmux server as much again),
  the pane writes ${TERMINALS.burstBytes / 1024 / 1024} MB of plain 80-column lines as fast as it can (seconds of output: a sustained
  rate), then a stamp; each viewer's MB/s from the arrival of the burst's first byte to the stamp's (so the
  start of the writing program is not counted). A viewer, or a daemon, that falls too far behind gets the
  screen afresh instead of the bytes it missed, which counts as read: how many times that happened is
  reported beside the rates. A reads the pane through \`pipe-pane\`, not control mode: the lone \`tmux -C\`
  client shows what control mode alone would deliver. Baselines: a \`tmux -C\` client alone on a pane of a tmux server of its own,
  the same burst; and the same number of bytes through the raw hops, in base64 entries of
  ${Limits.terminalOutputFrameBytes / 1024} KiB (as A writes them), XADDed as fast as Redis takes them. CPU per MB:
  utime+stime (\`/proc/<pid>/stat\`) over the burst of A's and B's processes (without their tmux clients) and
  of the tmux servers.
`

const repeatedCount = (r: Results) =>
  r.comparison.reduce((n, round) =>
    n + [round.termfleet, round.peer, round.withSessions, round.redis, round.ws].reduce((m, a) => m + a.discarded.length, 0), 0) +
  (r.others === undefined ? 0 : (["initial", "interest", "quiet", "idle"] as const).reduce((n, k) =>
    n + (r.others![k] as ReadonlyArray<Attempted<unknown>>).reduce((m, a) => m + a.discarded.length, 0), 0)) +
  [...(r.agentWait ?? []), ...(r.terminals ?? [])].reduce((n, a) => n + a.discarded.length, 0)

/** `extra`: hand-written Markdown included as is after the results (bench/optimisations.md). */
export const renderReport = (r: Results, env: RunEnv, extra: string): string => {
  const m = env.machine
  const rounds = r.comparison.length
  return `# termfleet benchmarks

Generated by \`npm run bench\` (or \`make bench\`): it builds (\`npm run build\`, then
\`tsc -p tsconfig.bench.json\` into \`dist/bench-build/\`), runs
\`node dist/bench-build/bench/run.js\`, prints the first table below and writes this file.
It starts its own \`redis-server\` on a free loopback port, real daemons, the
peer's servers and real WebSocket / socket.io clients; all traffic stays on 127.0.0.1.
Nothing is tuned per run.

- command: \`npm run bench\` (${rounds} rounds: \`BENCH_ROUNDS\`)
- date: ${env.date.toISOString()}
- machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB RAM, Linux ${m.kernel}
- software: Node.js ${m.node}, redis-server ${m.redis}, ${m.tmux}
- run time: ${env.totalSeconds.toFixed(0)} s (plus the build)
- other load on the machine during the run: ${env.otherCores.toFixed(2)} of ${m.cores} cores on average were busy with processes
  that are not the benchmark's (load average ${env.loadBefore.map((x) => x.toFixed(2)).join(" ")} before,
  ${env.loadAfter.map((x) => x.toFixed(2)).join(" ")} after); the benchmark's own processes used ${env.benchCores.toFixed(2)} cores on average.
  A system's round during which other processes kept more than ${env.otherCoresLimit.toFixed(2)} cores busy
  was measured again (at most ${MAX_ATTEMPTS} attempts, the least disturbed kept): ${repeatedCount(r)} such repeats in this run
  (each listed under "Rounds").

## termfleet and socket.io side by side

Each cell is the median of the ${rounds} rounds, with the lowest and highest round in brackets;
ratios divide medians. The peer is socket.io 4.8 with \`@socket.io/redis-streams-adapter\` 0.3
(\`bench/sioPeer.ts\`) on the same redis-server: its A emits to the room \`sessions\`, its B checks
a bearer token on every connection and its clients join the room. termfleet's B is the shipped
\`node dist/main.js daemon\` (\`--redis\`, token and fleet secret in its environment,
\`--max-clients ${FANOUT.clients + 100}\`; \`bench/daemonB.ts\`), so its start-up, RSS and CPU are what users get.
termfleet's A makes the paced changes, so it is a daemon host (\`bench/daemonHost.ts\`): \`daemonLayer\` +
\`productionIo\` as \`termfleet daemon\` builds them, unbundled, in a process of its own, with a handle on its
cache to make the changes. The raw baseline is what the path's tools cost alone: for latency,
a Redis XADD → XREAD hop plus a bare \`ws\` send (medians of the sums); for throughput, the slower
of the two hops; for fan-out and memory, a bare \`ws\` server with the same clients.

${renderTable(r)}

${extra}
## Method

- **Same work for both systems.** Every change is the same session (${SESSION_BYTES} bytes of JSON,
  a 4-line \`lastOutput\` carrying its stamp), cycling over 50 session ids, made on A by the same
  timer-driven pacer (\`pace\` in \`bench/support.ts\`, run in A's process: each tick sends every
  change that is due; no busy loop). termfleet's A makes it with \`SessionCache.upsertSession\`, the
  call \`LocalSessions\` makes when tmux reports a change; the peer's A with
  \`io.to("sessions").emit("session_updated", session)\`.
- **Clients in child processes** (\`bench/clients.ts\`): plain \`ws\` clients for termfleet, which
  subscribe to \`sessions\` and get \`sessions_initial\`; \`socket.io-client\` 4.8 clients (WebSocket
  transport) for the peer, which join the room and get an ack. Both present the token
  (\`Authorization: Bearer\`) and parse every frame.
- **One clock**: the stamp is \`process.hrtime\` (\`CLOCK_MONOTONIC\`, system-wide on Linux); the
  receiver subtracts it from its own reading when the frame arrives.
- **Rounds, order alternated**: in odd rounds termfleet goes first, in even rounds the peer; each
  system gets fresh processes and a fresh Redis key prefix (stream name) in every round; one
  redis-server for the whole run.
- **Load check**: for each system's round, the machine's busy time (\`/proc/stat\`) minus that of the
  benchmark's own processes (\`/proc/<pid>/stat\` of this process, its children and their reaped
  children) gives what other processes used; above ${env.otherCoresLimit.toFixed(2)} cores on average the round is measured again.
- Everything shares this machine's ${m.cores} cores, so the figures include their contention.

In each round, for each system:

1. **Start-up and idle memory**: B's process is started alone; start-up is from the spawn to B serving
   (termfleet: it printed its dashboard URL and \`/health\` says Redis is connected; the peer: it listens,
   connected to Redis, and says so); its RSS (\`VmRSS\` of \`/proc/<pid>/status\`, as every RSS here) is
   read a second later, before any client.
2. **Latency**: A is started, one client of B subscribes, a warm-up (1 s at 500 ev/s) is discarded, then
   ${LATENCY_RUNS.map((x) => `${int(x.rate)} ev/s for ${x.durationMs / 1000} s`).join(", then ")}; p50 and p99
   over every change, each of which must arrive.
3. **CPU per event**: the change of utime+stime of A's and of B's process over the 1,000 ev/s run (and its
   drain), divided by the changes made.
4. **Zero-loss throughput**: the offered rate starts at ${int(STEP_RATES[0])} ev/s and doubles (${STEP_MS / 1000} s a step,
   at most ${int(TOP_RATE)} ev/s) until a step fails, then one step half-way. A step **passes** when every
   change arrived, none later than ${MAX_LAG_MS} ms after it was made, and the sender managed 95 % of the rate.
5. **Fan-out and memory**: the receiving client leaves; ${int(FANOUT.clients)} clients of B, in ${FANOUT.processes} processes, connect
   and subscribe (10 at a time per process); ${FANOUT.changes} changes on A, ${FANOUT.gapMs} ms apart; every (change, client)
   delivery counts. B's RSS is then read with the clients connected.

termfleet is also measured with its B serving 100 idle tmux sessions (its tmux listing, every 500 ms,
then has something to list), for latency and CPU only.

## Rounds

${roundDetails(r.comparison)}

termfleet's latency split at B's stream, from latency runs of their own after the compared ones (a third
process reads \`events:beta\` with its own blocking \`XREAD\`, which does not consume; its own wake-up is
included; it costs Redis a second reply per entry and the machine a process, so the compared runs go without it):

${splitDetails(r.comparison)}

Throughput steps:

${throughputDetails(r.comparison)}
${r.agentWait === undefined ? "" : agentWaitSection(r.agentWait)}${r.terminals === undefined ? "" : terminalsSection(r.terminals)}${r.others === undefined ? "" : `
## Other figures of termfleet

Median of the ${r.others.initial.length} rounds, lowest and highest round in brackets.

${otherTable(r.others)}

- **Initial load**: a daemon without Redis (\`bench/daemonHost.ts\`) holds 10,000 sessions of 20 computers
  (500 each, the 19 peers kept live by heartbeats recorded in its cache). A new client connects and
  subscribes; from the send, first byte is the first TCP data on its socket, last byte the last chunk
  before the complete \`sessions_initial\`. Five clients in turn each round; the first of them pays for
  serialising the sessions, the others share it. Baseline: a bare \`ws\` server answering with the
  same frame already serialised.
- **Interest propagation**: A in the benchmark process, B a \`node dist/main.js daemon\` child, B without
  clients. A session on A changes (nobody on B is interested, so A does not push it); a client connects
  to B and subscribes; the clock stops when a separate Redis connection sees A's first entry in B's
  stream, and when B's client shows the change.
- **No interested peer**: \`INFO commandstats\` before and 1 s after 1,000 changes on A (1,000 ev/s) with
  no client on B; the control repeats it with one client subscribed.
- **Idle cost**: a daemon serving 100 idle tmux sessions (made with the daemon's own \`createArgs\`),
  over a 5 s window after 2 s: its CPU from \`/proc/<pid>/stat\`, and its \`LocalSessions.tmuxCalls\`.
  Baseline: a bare poller (\`bench/tmuxPoller.ts\`), one \`tmux list-panes -a\` a second.

${startupMethod(r.others.startup)}`}
## Profiling

\`BENCH_CPU_PROF=/some/dir npm run bench\` runs every daemon and every peer server (and the
\`node dist/main.js daemon\` children) with \`--cpu-prof --cpu-prof-dir=/some/dir\`; each writes a
\`.cpuprofile\` when it stops. \`BENCH_ROUNDS=1 BENCH_ONLY=compare\` runs one round of the side-by-side
figures only. Open the profiles in Chrome DevTools (Performance), or sum self time per function
with a few lines of Node. The profiles change the timings: use them to see where time goes, not as figures.
`
}
