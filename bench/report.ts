/** The table printed at the end of `npm run bench`, and BENCHMARKS.md around it. */
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

type PerPipeline<A> = { readonly redis: A; readonly ws: A; readonly termfleet: A }

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

interface Fanout {
  readonly connectMs: number
  readonly delivered: number
  readonly expected: number
  readonly closed: number
  readonly latency: Summary
}

export interface Results {
  readonly latency: PerPipeline<Record<number, RunResult>>
  readonly throughput: PerPipeline<Throughput>
  readonly interest: { readonly toXadd: Summary; readonly toClient: Summary }
  readonly quiet: { readonly quiet: Burst; readonly control: Burst }
  readonly many: {
    readonly initial: Initial
    readonly initialBase: Initial
    readonly fanout: Fanout & { readonly clients: number }
    readonly fanoutBase: Fanout
    readonly memory: { readonly empty: MemoryStage; readonly sessions: MemoryStage; readonly clients: MemoryStage }
    /** RSS of the bare ws server holding the same clients and the sessions, serialised. */
    readonly memoryBase: number
  }
  readonly idle: IdleCost & {
    readonly sessions: number
    /** The same window for a bare poller: one tmux listing a second. */
    readonly base: IdleCost
  }
  readonly startup: StartupResults
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

export interface RunEnv {
  readonly date: Date
  readonly machine: Machine
  readonly totalSeconds: number
  readonly loadBefore: ReadonlyArray<number>
  readonly loadAfter: ReadonlyArray<number>
  /** Cores busy on average with processes that are not the benchmark's. */
  readonly otherCores: number
  readonly benchCores: number
}

const ms = (x: number) => (Number.isNaN(x) ? "—" : x < 10 ? x.toFixed(2) : x < 100 ? x.toFixed(1) : x.toFixed(0))
const trio = (s: Summary) => `${ms(s.p50)} / ${ms(s.p99)} / ${ms(s.max)} ms`
const ratio = (a: number, b: number) => (Number.isFinite(a / b) && b > 0 ? `×${(a / b).toFixed(a / b < 10 ? 1 : 0)}` : "—")
const int = (n: number) => Math.round(n).toLocaleString("en-US")
const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MB`

const sustained = (t: Throughput) => {
  if (t.best === undefined) return { rate: 0, text: `< ${int(STEP_RATES[0])} ev/s` }
  const top = t.best.rate === TOP_RATE
  return { rate: t.best.rate, text: `${top ? "≥ " : ""}${int(t.best.rate)} ev/s` }
}

const sumOf = (a: Summary, b: Summary): Summary => ({
  count: Math.min(a.count, b.count),
  p50: a.p50 + b.p50,
  p99: a.p99 + b.p99,
  max: a.max + b.max,
  mean: a.mean + b.mean
})

const ratios = (a: Summary, b: Summary) => `${ratio(a.p50, b.p50)} / ${ratio(a.p99, b.p99)} / ${ratio(a.max, b.max)}`

export const renderTable = (r: Results): string => {
  const rows: Array<[string, string, string, string]> = []
  for (const rate of [100, 1000]) {
    const tf = r.latency.termfleet[rate]!.latency
    const floor = sumOf(r.latency.redis[rate]!.latency, r.latency.ws[rate]!.latency)
    rows.push([
      `propagation latency, change on A → WebSocket client of B, at ${int(rate)} ev/s (p50 / p99 / max)`,
      trio(tf),
      `${trio(floor)} (redis XADD→XREAD + bare ws send)`,
      ratios(tf, floor)
    ])
  }
  const tp = { termfleet: sustained(r.throughput.termfleet), redis: sustained(r.throughput.redis), ws: sustained(r.throughput.ws) }
  const slower = tp.redis.rate <= tp.ws.rate ? tp.redis : tp.ws
  rows.push([
    "sustained throughput A → B → client with zero loss",
    tp.termfleet.text,
    `${slower.text} (slower hop; redis ${tp.redis.text}, ws ${tp.ws.text})`,
    ratio(tp.termfleet.rate, slower.rate)
  ])
  const f = r.many.fanout
  const fb = r.many.fanoutBase
  rows.push([
    `fan-out: one change to ${int(f.clients)} WebSocket clients of one daemon (p50 / p99 / max)`,
    trio(f.latency),
    `${trio(fb.latency)} (bare ws server, ${int(FANOUT.clients)} clients)`,
    ratios(f.latency, fb.latency)
  ])
  const i = r.many.initial
  const ib = r.many.initialBase
  rows.push([
    `initial load: sessions_initial with 10,000 sessions of 20 computers (${(i.bytes / 1024 / 1024).toFixed(1)} MB) after subscribe: first byte / last byte (p50 of 5)`,
    `${ms(i.firstByte.p50)} / ${ms(i.lastByte.p50)} ms (the first client, which serialises the sessions: ${ms(i.first.firstByte)} / ${ms(i.first.lastByte)} ms)`,
    `${ms(ib.firstByte.p50)} / ${ms(ib.lastByte.p50)} ms (bare ws, same frame already serialised)`,
    `${ratio(i.firstByte.p50, ib.firstByte.p50)} / ${ratio(i.lastByte.p50, ib.lastByte.p50)}`
  ])
  // The path: B's heartbeat XADD → A's XREAD, A's XADD → readable (two Redis hops), then B → its client (a ws send).
  const redisHop = r.latency.redis[100]!.latency.p50
  const wsHop = r.latency.ws[100]!.latency.p50
  rows.push([
    "interest propagation: subscribe on B → A's first event XADDed to B / shown to B's client (p50; max of 10)",
    `${ms(r.interest.toXadd.p50)} / ${ms(r.interest.toClient.p50)} ms (max ${ms(r.interest.toXadd.max)} / ${ms(r.interest.toClient.max)} ms)`,
    `${ms(2 * redisHop)} / ${ms(2 * redisHop + wsHop)} ms (two redis XADD→XREAD hops / and a bare ws send, p50 at 100 ev/s)`,
    `${ratio(r.interest.toXadd.p50, 2 * redisHop)} / ${ratio(r.interest.toClient.p50, 2 * redisHop + wsHop)}`
  ])
  rows.push([
    `traffic with no interested peer: XADDs for ${int(r.quiet.quiet.changes)} changes on A while B has no subscribed client`,
    `${r.quiet.quiet.xadds}`,
    `control, with 1 client subscribed on B: ${int(r.quiet.control.xadds)}`,
    ratio(r.quiet.quiet.xadds, r.quiet.control.xadds)
  ])
  const m = r.many.memory
  rows.push([
    `memory: daemon RSS with 10,000 cached sessions and ${int(f.clients)} clients`,
    `${mb(m.clients.rss)} (${mb(m.clients.rssAfterGc)} after a full GC)`,
    `${mb(r.many.memoryBase)} (bare ws server holding the same clients and the sessions, serialised); ` +
    `the daemon itself: ${mb(m.empty.rss)} empty, ${mb(m.sessions.rss)} with the sessions, no clients`,
    `${ratio(m.clients.rss, r.many.memoryBase)} (${ratio(m.clients.rssAfterGc, r.many.memoryBase)} after GC)`
  ])
  rows.push([
    `idle cost with ${r.idle.sessions} idle local sessions: daemon CPU; tmux invocations`,
    `${r.idle.cpuPercent.toFixed(2)} % of one core; ${r.idle.tmuxPerSecond.toFixed(2)} /s`,
    `${r.idle.base.cpuPercent.toFixed(2)} %; ${r.idle.base.tmuxPerSecond.toFixed(2)} /s (bare poller: one tmux listing a second)`,
    `${ratio(r.idle.cpuPercent, r.idle.base.cpuPercent)}; ${ratio(r.idle.tmuxPerSecond, r.idle.base.tmuxPerSecond)}`
  ])
  rows.push(...startupRows(r.startup))
  const escape = (cell: string) => cell.replaceAll("|", "\\|")
  return [
    "| figure | termfleet | baseline (same run) | termfleet ÷ baseline |",
    "| --- | --- | --- | --- |",
    ...rows.map((row) => `| ${row.map(escape).join(" | ")} |`)
  ].join("\n")
}

const latencyDetails = (r: Results) => {
  const lines = [
    "| pipeline | rate | changes received | p50 | p99 | max | mean |",
    "| --- | --- | --- | --- | --- | --- | --- |"
  ]
  for (const name of ["termfleet", "redis", "ws"] as const) {
    for (const rate of [100, 1000]) {
      const run = r.latency[name][rate]!
      lines.push(
        `| ${name} | ${int(rate)}/s | ${int(run.received)}/${int(run.sent)} | ${ms(run.latency.p50)} ms | ` +
          `${ms(run.latency.p99)} ms | ${ms(run.latency.max)} ms | ${ms(run.latency.mean)} ms |`
      )
      if (run.split !== undefined) {
        for (const [what, part] of [["  change on A → readable in B's stream", run.split.toStream], ["  B's stream → B's client", run.split.fromStream]] as const) {
          lines.push(`| ${what} | | | ${ms(part.p50)} ms | ${ms(part.p99)} ms | ${ms(part.max)} ms | ${ms(part.mean)} ms |`)
        }
      }
    }
  }
  return lines.join("\n")
}

const throughputDetails = (r: Results) => {
  const lines = [
    "| pipeline | offered | actually offered | received | A pushed / B applied | p50 | p99 | max | result |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
  ]
  for (const name of ["termfleet", "redis", "ws"] as const) {
    for (const step of r.throughput[name].steps) {
      lines.push(
        `| ${name} | ${int(step.rate)}/s | ${int(step.achieved)}/s | ${int(step.received)}/${int(step.sent)} | ` +
          `${step.hops === undefined ? "" : `${int(step.hops.pushed)} / ${int(step.hops.applied)}`} | ` +
          `${ms(step.latency.p50)} ms | ${ms(step.latency.p99)} ms | ${ms(step.latency.max)} ms | ` +
          `${passed(step) ? "pass" : `fail${step.closed > 0 ? " (client closed)" : ""}`} |`
      )
    }
  }
  return lines.join("\n")
}

const memoryDetails = (r: Results) => {
  const m = r.many.memory
  const row = (what: string, x: MemoryStage) =>
    `| ${what} | ${mb(x.rss)} | ${mb(x.heapUsed)} | ${mb(x.rssAfterGc)} | ${mb(x.heapAfterGc)} |`
  return [
    "| gamma's process | RSS | V8 heap used | RSS after full GC | heap after full GC |",
    "| --- | --- | --- | --- | --- |",
    row("empty (just started)", m.empty),
    row("10,000 sessions of 20 computers cached", m.sessions),
    row(`and ${int(r.many.fanout.clients)} clients connected, subscribed, after the fan-out`, m.clients)
  ].join("\n")
}

/** `extra`: hand-written Markdown included as is before the method (see bench/optimisations.md). */
export const renderReport = (r: Results, env: RunEnv, extra: string): string => {
  const m = env.machine
  const f = r.many.fanout
  return `# termfleet benchmarks

Generated by \`npm run bench\` (or \`make bench\`): it builds (\`npm run build\`, then
\`tsc -p tsconfig.bench.json\` into \`dist/bench-build/\`), runs
\`node dist/bench-build/bench/run.js\`, prints the table below and writes this file.
It starts its own \`redis-server\` on a free loopback port, real daemons and
real WebSocket clients; all traffic stays on 127.0.0.1. Nothing is tuned per
run: the figures below are one run's measurements, as measured.

- command: \`npm run bench\`
- date: ${env.date.toISOString()}
- machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB RAM, Linux ${m.kernel}
- software: Node.js ${m.node}, redis-server ${m.redis}, ${m.tmux}
- run time: ${env.totalSeconds.toFixed(0)} s (plus the build)
- other load on the machine during the run: ${env.otherCores.toFixed(2)} of ${m.cores} cores on average were busy with processes
  that are not the benchmark's (load average ${env.loadBefore.map((x) => x.toFixed(2)).join(" ")} before,
  ${env.loadAfter.map((x) => x.toFixed(2)).join(" ")} after); the benchmark's own processes used ${env.benchCores.toFixed(2)} cores on average.
  Tail latencies (p99, max) are sensitive to this.

## Results

${renderTable(r)}

Times are milliseconds; "ev/s" is events (session changes) per second. The ratio
column divides termfleet's figure by the baseline's, item by item (p50 / p99 / max).
For propagation latency the baseline is the sum of the two raw hops termfleet's
path contains (Redis XADD → XREAD, then a WebSocket send), the least the path
can cost with these tools; for throughput it is the slower of the two raw hops.

${extra}
## Method

- **Daemon A** ("alpha") runs **in the benchmark process**, built from
  \`daemonLayer\` (\`src/Daemon.ts\`) with \`productionIo\`, exactly as \`main\` builds
  it: the real ioredis \`RedisClient\`, a real loopback port, real tmux polling
  (of an empty private tmux server). A **session change on A** is injected with
  its \`SessionCache.upsertSession\`, the very call \`LocalSessions\` makes when
  tmux reports a change (tmux itself cannot produce 1,000 changes per second).
- **Daemon B** ("beta") is a real \`node dist/main.js daemon --computer beta
  --redis URL --port P --prefix P --token T --fleet-secret S --tmux-socket S
  --state-dir D\` child process.
- **Clients** are plain \`ws\` clients in child processes (\`bench/clients.ts\`),
  presenting the token (\`Authorization: Bearer\`) and parsing every frame as a
  real client does.
- **One clock**: each change carries, in its session's \`lastOutput\`, the time
  it was made (\`process.hrtime\`, i.e. \`CLOCK_MONOTONIC\`, which is system-wide on
  Linux, so comparable between the processes of one machine); the receiver
  subtracts it from its own reading when the frame arrives.
- **Same payload everywhere**: every pipeline carries the same session (${SESSION_BYTES}
  bytes of JSON, with a 4-line \`lastOutput\`), cycling over 50 session ids.
- **A fresh Redis key prefix per scenario**, and a fresh pair of daemons for each
  termfleet scenario; one redis-server for the whole run.
- Rates are offered by a timer-driven pacer (each tick sends every event that
  is due; no busy loop: the machine has ${m.cores} cores and the systems under test need them).
- Everything (redis-server, daemons, clients, the driver) shares this machine's
  ${m.cores} cores, so the figures include their contention; the baselines run under the same conditions.

## How each figure is measured

### Propagation latency

After a warm-up (1 s at 500 ev/s, discarded): 100 ev/s for 5 s (500 changes),
then 1,000 ev/s for 3 s (3,000 changes). Each change is stamped just before
\`upsertSession\` on A; its latency is the time B's client receives the matching
\`session_updated\` frame minus the stamp. The path: A's cache → A's
\`EventStream\` (seal with HMAC, \`XADD\` to \`events:beta\`) → B's blocking \`XREAD\`
→ verify, decode, B's cache → B's \`WebSocketHub\` → the client. p50 / p99 / max
over all changes; every change must arrive. The termfleet rows below also split
the path at the Redis stream: a third process reads \`events:beta\` with its own
blocking \`XREAD\` (which does not consume; B still reads every entry) and notes
when each change became readable there (that reader's own wake-up is included,
so the second part can come out slightly negative for some changes).

Baselines, same rates and payload:
- **redis**: one ioredis connection \`XADD key MAXLEN ~ 10000 * body <session_updated JSON>\`,
  a second one looping on \`XREAD COUNT 512 BLOCK 1000\` from the last id, both in
  the benchmark process; from just before the XADD to the XREAD reply.
- **ws**: a bare \`ws\` server process (\`bench/wsPeer.ts\`) sends the same
  \`{"event":"session_updated",...}\` frame (JSON.stringify per event) to one
  client in another process (\`bench/clients.ts\`).

${latencyDetails(r)}

### Sustained throughput with zero loss

The offered rate starts at ${int(STEP_RATES[0])} ev/s and doubles every step (${STEP_MS / 1000} s of
changes each, at most ${int(TOP_RATE)} ev/s) until a step fails, then one step
half-way between the last pass and the fail. A step **passes** when every change
arrived at the client (none lost, the client not closed), none later than
${MAX_LAG_MS} ms after it was made (so the path keeps up instead of building a
backlog), and the sender managed at least 95 % of the offered rate. The figure
is the highest offered rate that passed. After a failed step the benchmark waits
until nothing more arrives before the next one. With ${STEP_MS / 1000} s steps and a ${MAX_LAG_MS} ms
bound, a passing rate can exceed the true sustained capacity by up to about
${Math.round((MAX_LAG_MS / STEP_MS) * 100)} %. For termfleet, "A pushed / B applied" are A's \`eventsOut\` and
B's \`eventsIn\` (\`/health\`) over the step: fewer applied than pushed means
entries left B's stream unread (it is trimmed to \`MAXLEN ~ 10000\`) while B lagged.
B then notices the gap in A's numbering and asks A for a snapshot, so "A pushed" can exceed
the changes by the few snapshots sent.

${throughputDetails(r)}

### Fan-out

One daemon ("gamma") with ${int(f.clients)} WebSocket clients subscribed to \`sessions\`,
the clients split over ${FANOUT.processes} child processes. The daemon's client limit
(\`DaemonConfig.defaultLimits.maxClients\`) is 256 and the CLI has no flag for it,
so gamma is built from \`daemonLayer\` with \`productionIo\` (local-only, no Redis) in
a process of its own (\`bench/daemonHost.ts\`), with \`maxClients\` raised to
${int(f.clients + 100)} and every other setting default. Its cache holds the 10,000 sessions of
the initial-load figure. ${FANOUT.changes} changes, ${FANOUT.gapMs} ms apart, are made with
\`upsertSession\` in gamma's process, each stamped just before; the figure is
over every (change, client) delivery: ${int(f.delivered)} of ${int(f.expected)} delivered.
Connecting and subscribing the ${int(f.clients)} clients, 10 at a time per process (each
gets its ${(r.many.initial.bytes / 1024 / 1024).toFixed(1)} MB sessions_initial), took ${(f.connectMs / 1000).toFixed(1)} s.
Baseline: the bare \`ws\` server sends the same frame to ${int(FANOUT.clients)} clients in the
same two client processes, the same number of times.

### Initial load

Gamma holds 10,000 sessions of 20 computers (500 each: its own, and 19 peers
whose heartbeats are recorded in its cache so they are live). A new client
connects, then sends \`{"type":"subscribe","topic":"sessions"}\`; from that send,
**first byte** is the first TCP data on the client's socket and **last byte** the
last data chunk before the complete \`sessions_initial\` frame (${int(r.many.initial.bytes)} bytes)
is delivered. Five clients in turn, no other client connected; p50 reported
(max: ${ms(r.many.initial.firstByte.max)} ms first byte, ${ms(r.many.initial.lastByte.max)} ms last byte). The daemon serialises the
sessions once for as long as its cache and the set of live computers stay the
same, so the first of the five pays for it (shown apart in the table) and the
other four share it, as dashboards reconnecting together would. Baseline: the bare \`ws\` server
answers a request with an already serialised frame of the same sessions
(${int(r.many.initialBase.bytes)} bytes), so the ratio shows what building the state costs on top
of moving the bytes.

### Interest propagation

A and B as above, B without clients. Ten rounds: a session on A is changed (B
is not interested, so A does not push it), a client connects to B, and the clock
starts when it sends \`subscribe\`. It stops (1) when a separate Redis
connection, blocked in \`XREAD\` on B's stream \`events:beta\` from its last id,
receives A's first entry (the \`sessions_snapshot\`: B's heartbeat announcing
its new interest went through \`events:alpha\` and A answered), and (2) when B's
client receives the changed session. The client then disconnects, and B's lost
interest reaches A before the next round.

Baseline: the raw hops the path holds, from the propagation baselines of this
run (p50 at 100 ev/s): two Redis XADD → XREAD hops (B's heartbeat into A's
stream, A's snapshot into B's) for (1), and a bare \`ws\` send on top for (2).

### Traffic with no interested peer

A and B up, B without clients. \`INFO commandstats\` (\`cmdstat_xadd\` calls) is read
before and 1 s after a burst of ${int(r.quiet.quiet.changes)} session changes on A (1,000 ev/s):
${r.quiet.quiet.xadds} XADDs; A's \`eventsOut\` moved by ${r.quiet.quiet.eventsOut}; Redis commands of any kind in
that window: ${int(r.quiet.quiet.commands)} (periodic discovery and heartbeats, when they fall in it). As a
control of the method, the same burst with one client subscribed on B: ${int(r.quiet.control.xadds)} XADDs.
The ratio divides the XADDs without interest by those of the control.

### Memory

\`process.memoryUsage()\` of gamma's process (the daemon plus a small IPC shim),
read as is (the table's figure) and then again after two forced full GCs
(gamma runs with \`--expose-gc\` for this only), at three moments:

${memoryDetails(r)}

Baseline: the RSS of the bare \`ws\` server process (\`bench/wsPeer.ts\`) right after its
fan-out, holding the same ${int(FANOUT.clients)} clients and the same 10,000 sessions
as one serialised frame: ${mb(r.many.memoryBase)}. The daemon holds more: the
sessions as objects, a queue and a writer fiber per client, the Effect runtime.

### Idle cost

${r.idle.sessions} termfleet sessions running \`sleep 100000\` are created at the start of the
run on a private tmux server with the daemon's own \`createArgs\` (\`src/Tmux.ts\`,
the tmux call \`LocalSessions.create\` makes), so they are long idle when measured.
A daemon (\`daemonLayer\` + \`productionIo\`, with Redis, default settings) serves
them in a process of its own (\`bench/daemonHost.ts\`), so its CPU can be read.
After 3 s, over a ${r.idle.seconds.toFixed(0)} s window: CPU is the change of utime+stime in
\`/proc/<pid>/stat\` of the daemon's process: ${r.idle.cpuPercent.toFixed(2)} % of one core; its reaped
children (the tmux client processes it runs): ${r.idle.childrenCpuPercent.toFixed(2)} %; the tmux server:
${r.idle.tmuxServerCpuPercent.toFixed(2)} %. tmux invocations: the change of \`LocalSessions.tmuxCalls\`, a
counter inside the daemon's process (read over IPC, as nothing outside the
process can see it): ${r.idle.tmuxPerSecond.toFixed(2)} per second.

Baseline, on the same tmux server right after, over a window of the same
length: a bare poller (\`bench/tmuxPoller.ts\`), the least a change detector
with a one-second bound does: one \`tmux list-panes -a\` a second, split into
fields, nothing else (no cache, no HTTP, no Redis). Its CPU:
${r.idle.base.cpuPercent.toFixed(2)} % (its tmux clients ${r.idle.base.childrenCpuPercent.toFixed(2)} %, the tmux server
${r.idle.base.tmuxServerCpuPercent.toFixed(2)} %); ${r.idle.base.tmuxPerSecond.toFixed(2)} tmux calls per second.

${startupMethod(r.startup)}
## Profiling

\`BENCH_CPU_PROF=/some/dir npm run bench\` starts every \`node dist/main.js daemon\`
(daemon B) with \`--cpu-prof --cpu-prof-dir=/some/dir\`; after \`npm run bench\` has built
once, \`node --cpu-prof dist/bench-build/bench/run.js\` profiles the driver, which
includes daemon A. Open the \`.cpuprofile\` files in Chrome DevTools (Performance).
The profiles change the timings: use them to see where time goes, not as figures.
`
}
