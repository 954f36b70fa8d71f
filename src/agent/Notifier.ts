/**
 * `--notify-url URL`: when an agent session of this computer starts waiting
 * or finishes, POST a JSON event to the URL (a phone push service, a chat
 * webhook), with a link that opens the session on the dashboard where
 * people open it (`--public-url`, else the address listened on). Only the
 * daemon that owns a session sends, so a fleet sends one notification per
 * event, not one per daemon.
 *
 * Sending never holds anything up: events go through a bounded queue (the
 * oldest dropped when it is full) to a few concurrent senders; each try has
 * a timeout, a failed one is retried with backoff, then given up.
 */
import { FetchHttpClient, HttpClient, HttpClientRequest, HttpServer } from "@effect/platform"
import { Duration, Effect, Layer, Option, Queue, Schedule } from "effect"
import { dashboardUrl } from "../config/Address.js"
import { DaemonConfig } from "../config/DaemonConfig.js"
import { SessionCache } from "../cache/SessionCache.js"
import { Limits } from "../domain/Limits.js"
import type { AgentStateName, AgentStatus, Session } from "../domain/Model.js"
import { sessionFragment } from "../domain/SessionLink.js"
import { surviving } from "../runtime/Survive.js"

/** What the webhook receives. `text` is the event in one line, for chat webhooks that show a `text` field. */
export interface NotifyEvent {
  readonly session: string
  readonly title: string
  readonly computer: string
  readonly project: string | null
  readonly agent: string
  readonly state: AgentStateName
  readonly reason: string | null
  readonly summary: string
  readonly since: number
  readonly link: string
  readonly text: string
}

const finished = (state: AgentStatus["state"]) => state === "done" || state === "exited"

/** Whether a session's agent moving from `before` to `after` is worth a notification. */
export const notifiable = (before: AgentStatus | undefined, after: AgentStatus): boolean => {
  // First sight (a new session, or this daemon just started): nothing moved.
  if (before === undefined || before.name !== after.name) return false
  if (after.state === before.state && after.reason === before.reason) return false
  if (after.state === "waiting") return true
  return finished(after.state) && !finished(before.state)
}

export const notifyEvent = (session: Session, agent: AgentStatus, dashboard: string): NotifyEvent => {
  const what = agent.state === "waiting" ? `is waiting (${agent.reason ?? "input"})` : agent.state === "done" ? "is done" : "exited"
  return {
    session: session.sessionId,
    title: session.title,
    computer: session.computer,
    project: session.projectPath,
    agent: agent.name,
    state: agent.state,
    reason: agent.reason,
    summary: agent.summary,
    since: agent.since,
    link: `${dashboard}/${sessionFragment(session)}`,
    text: `${session.computer}/${session.title} ${what}${agent.summary === "" ? "" : `: ${agent.summary}`}`
  }
}

/** Watches this computer's agent sessions and sends their events; nothing at all without `--notify-url`. */
export const Notifier = Layer.scopedDiscard(
  Effect.gen(function*() {
    const config = yield* DaemonConfig
    if (Option.isNone(config.notifyUrl)) return
    const url = config.notifyUrl.value
    const { notifyBackoffMillis, notifyRetries, notifyTimeoutMillis } = config.limits
    const cache = yield* SessionCache
    const { address } = yield* HttpServer.HttpServer
    // Where the person the event reaches opens the dashboard: not necessarily on this computer.
    const dashboard = dashboardUrl({
      publicUrl: config.publicUrl,
      tls: Option.isSome(config.tls),
      host: config.host,
      port: address._tag === "TcpAddress" ? address.port : config.port
    })
    const client = (yield* HttpClient.HttpClient).pipe(HttpClient.filterStatusOk)
    const outbox = yield* Queue.sliding<NotifyEvent>(Limits.notifyQueue)
    const senders = yield* Effect.makeSemaphore(Limits.notifySenders)

    const send = (event: NotifyEvent) =>
      client.execute(HttpClientRequest.bodyUnsafeJson(HttpClientRequest.post(url), event)).pipe(
        Effect.scoped,
        Effect.timeout(Duration.millis(notifyTimeoutMillis)),
        Effect.retry(
          Schedule.exponential(Duration.millis(notifyBackoffMillis)).pipe(Schedule.intersect(Schedule.recurs(notifyRetries)))
        ),
        Effect.catchAll((error) =>
          Effect.logWarning(`notify-url: gave up on '${event.text}' after ${notifyRetries + 1} tries: ${error.message}`))
      )

    yield* Effect.forkScoped(surviving("sending notifications", Effect.forever(Effect.gen(function*() {
      const event = yield* Queue.take(outbox)
      yield* senders.take(1)
      yield* Effect.forkScoped(Effect.ensuring(send(event), senders.release(1)))
    }))))

    // What each agent session of this computer last was, to see it move.
    const last = new Map<string, AgentStatus>()
    // Only this computer's own sessions: a peer's changes (nearly all a receiving daemon sees) do not wake it.
    const changes = yield* cache.subscribeTo((change) =>
      change._tag === "SessionUpdated" ? change.session.computer === config.computer
      : change._tag === "SessionRemoved" && change.ref.computer === config.computer)
    yield* Effect.forkScoped(surviving("watching agent states", Effect.forever(Effect.gen(function*() {
      const change = yield* Queue.take(changes)
      if (change._tag === "SessionRemoved") return void last.delete(change.ref.sessionId)
      if (change._tag !== "SessionUpdated") return
      const { agent, sessionId } = change.session
      if (agent === undefined) return void last.delete(sessionId)
      const before = last.get(sessionId)
      last.set(sessionId, agent)
      if (notifiable(before, agent)) yield* Queue.offer(outbox, notifyEvent(change.session, agent, dashboard))
    }))))
  })
).pipe(Layer.provide(FetchHttpClient.layer))
