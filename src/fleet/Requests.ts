/**
 * Request/response between daemons over Redis streams: remote create, input,
 * end and output. The requester XADDs to the target's request stream and
 * waits for the answer on its own reply stream, read by one long-lived
 * blocking XREAD for every waiting call (kept by request id), so calls share
 * one connection however many run at once. The target writes each answer on
 * its own, retried until the requester's deadline: one failed write never
 * drops the other answers of its batch, whose requests were already taken.
 */
import { Clock, Context, Deferred, Effect, Either, Layer, Schedule, Schema } from "effect"
import { randomBytes } from "node:crypto"
import { DaemonConfig } from "../config/DaemonConfig.js"
import { Limits } from "../domain/Limits.js"
import { RedisClient, type StreamEntry } from "./RedisClient.js"
import { redisKeys, Retention } from "./RedisKeys.js"
import { RedisStatus } from "./RedisStatus.js"
import { Seal } from "./Seal.js"
import { LocalSessions } from "../local/LocalSessions.js"
import { Terminals } from "../terminal/Terminals.js"
import { Stats } from "../runtime/Stats.js"
import {
  decodeReply,
  decodeRequest,
  encodeReply,
  encodeRequest,
  type PeerReply,
  type PeerRequest,
  type RequestBody
} from "../domain/PeerRequest.js"
import { consumeStream, reconnectSchedule } from "./StreamConsumer.js"

export class PeerUnavailable extends Schema.TaggedError<PeerUnavailable>()("PeerUnavailable", {
  computer: Schema.String,
  message: Schema.String
}) {}

/** This daemon runs local-only: there is no other computer to ask. */
export class NotInFleet extends Schema.TaggedError<NotInFleet>()("NotInFleet", {
  computer: Schema.String,
  message: Schema.String
}) {}

/** How long a requester waits for an answer. */
export const REQUEST_TIMEOUT_MILLIS = 5_000
/** A reply stream lives this long after its last answer, so none is left behind. */
const REPLY_TTL_MILLIS = 30_000
/** Answers kept in a reply stream: far more than the calls that can wait on it at once. */
const REPLY_MAX_LEN = 1_000
/**
 * Requests past their deadline by more than this are dropped unexecuted: the
 * requester has given up and told its user so, and a create or input done
 * later anyway would surprise them. It is the clock skew the fleet tolerates.
 */
export const STALE_AFTER_MILLIS = 5_000

export interface RequestsService {
  readonly call: (computer: string, request: PeerRequest) => Effect.Effect<PeerReply, PeerUnavailable | NotInFleet>
}

const failed = (kind: "SessionNotFound" | "InvalidSessionInput" | "TmuxError", message: string): PeerReply => ({
  _tag: "failed",
  kind,
  message
})

interface Waiting {
  readonly computer: string
  readonly answer: Deferred.Deferred<PeerReply, PeerUnavailable>
}

export class Requests extends Context.Tag("termfleet/Requests")<Requests, RequestsService>() {
  /** A daemon in a fleet: asks peers, and answers them. */
  static readonly layer = Layer.scoped(
    Requests,
    Effect.gen(function*() {
      const { computer: self, prefix } = yield* DaemonConfig
      const keys = redisKeys(prefix)
      const redis = yield* RedisClient
      const seal = yield* Seal
      const stats = yield* Stats
      const status = yield* RedisStatus
      const local = yield* LocalSessions
      const terminals = yield* Terminals

      const execute = (request: PeerRequest): Effect.Effect<PeerReply> => {
        const run = (() => {
          switch (request._tag) {
            case "create":
              return Effect.map(local.create(request), (session): PeerReply => ({ _tag: "session", session }))
            case "input":
              return Effect.map(local.sendInput(request.sessionId, request.text), (session): PeerReply => ({
                _tag: "session",
                session
              }))
            case "end":
              return Effect.as(local.end(request.sessionId), { _tag: "done" } as PeerReply)
            case "output":
              return Effect.map(local.output(request.sessionId, request.lines), (output): PeerReply => ({
                _tag: "output",
                output
              }))
            case "keys":
              return terminals.type(request.sessionId, Buffer.from(request.data, "base64")).pipe(
                Effect.as({ _tag: "done" } as PeerReply),
                Effect.catchTag("TerminalUnavailable", (e) =>
                  Effect.succeed(failed(e.reason === "not_found" ? "SessionNotFound" : "TmuxError", e.message)))
              )
          }
        })()
        return run.pipe(
          Effect.catchTags({
            SessionNotFound: (e) => Effect.succeed(failed("SessionNotFound", e.message)),
            InvalidSessionInput: (e) => Effect.succeed(failed("InvalidSessionInput", e.message)),
            TmuxError: (e) => Effect.succeed(failed("TmuxError", e.message))
          })
        )
      }

      /** Runs a request and writes its answer, retried while its requester may still wait; never fails. */
      const answer = (from: string, { deadline, id, request }: RequestBody) =>
        Effect.gen(function*() {
          const now = yield* Clock.currentTimeMillis
          const givesUpAt = deadline + STALE_AFTER_MILLIS
          if (now > givesUpAt) return yield* Effect.logDebug(`dropped stale request ${id} from ${from}`)
          const reply = yield* execute(request)
          const where = keys.replies(from)
          const fields = yield* seal.seal(where, encodeReply({ id, reply }))
          const written = yield* Clock.currentTimeMillis
          yield* status.report("write", redis.xadd(where, fields, REPLY_MAX_LEN, REPLY_TTL_MILLIS)).pipe(
            Effect.retry(reconnectSchedule.pipe(Schedule.upTo(Math.max(0, givesUpAt - written)))),
            Effect.catchAll((e) => Effect.logWarning(`could not answer request ${id} from ${from}: ${e.message}`))
          )
        })

      yield* consumeStream({
        stream: keys.requests(self),
        resume: { key: keys.requestsCursor(self), ttlMillis: Retention.requestsMillis },
        count: 64,
        handle: (entries) =>
          Effect.forEach(entries, (entry) =>
            Effect.flatMap(seal.open(keys.requests(self), entry.fields), (opened) =>
              Either.match(Either.flatMap(opened, ({ body, from }) => Either.map(decodeRequest(body), (r) => [from, r] as const)), {
                onLeft: (reason) =>
                  Effect.zipRight(stats.add("decodeFailures"), Effect.logDebug(`skipped request ${entry.id}: ${reason}`)),
                onRight: ([from, body]) => answer(from, body)
              })), { concurrency: 4, discard: true })
      })

      const unavailable = (computer: string, message: string) => new PeerUnavailable({ computer, message })

      // Calls waiting for their answer, by request id; at most Limits.pendingPeerRequests (the semaphore).
      const waiting = new Map<string, Waiting>()

      /** An answer from this daemon's reply stream, to the call waiting for it, if one still is. */
      const deliver = (entry: StreamEntry) =>
        Either.match(
          Either.flatMap(seal.verify(keys.replies(self), entry.fields), ({ body, from }) =>
            Either.map(decodeReply(body), ({ id, reply }) => ({ from, id, reply }))),
          {
            onLeft: (reason) => Effect.zipRight(stats.add("decodeFailures"), Effect.logDebug(`skipped reply ${entry.id}: ${reason}`)),
            onRight: ({ from, id, reply }) => {
              const call = waiting.get(id)
              // None: answered after the call gave up, or to an earlier run of this daemon.
              if (call === undefined) return Effect.void
              waiting.delete(id)
              return from === call.computer
                ? Deferred.succeed(call.answer, reply)
                : Deferred.fail(call.answer, unavailable(call.computer, `${call.computer} sent a garbled reply: answered by '${from}'`))
            }
          }
        )

      yield* consumeStream({
        stream: keys.replies(self),
        count: 64,
        handle: (entries) => Effect.forEach(entries, deliver, { discard: true })
      })

      const calls = yield* Effect.makeSemaphore(Limits.pendingPeerRequests)
      const call = (computer: string, request: PeerRequest) =>
        Effect.suspend(() => {
          const id = randomBytes(12).toString("hex")
          return calls.withPermits(1)(Effect.gen(function*() {
            const now = yield* Clock.currentTimeMillis
            const answer = yield* Deferred.make<PeerReply, PeerUnavailable>()
            waiting.set(id, { computer, answer })
            const body = encodeRequest({ id, deadline: now + REQUEST_TIMEOUT_MILLIS, request })
            const sealed = yield* seal.seal(keys.requests(computer), body)
            yield* status.report("write", redis.xadd(keys.requests(computer), sealed, 1_000, Retention.requestsMillis))
            return yield* Deferred.await(answer)
          })).pipe(
            Effect.ensuring(Effect.sync(() => waiting.delete(id))),
            Effect.catchTag("RedisError", (e) => Effect.fail(unavailable(computer, `Redis: ${e.message}`))),
            // Whatever Redis does, the caller has its answer by the deadline.
            Effect.timeoutFail({
              duration: REQUEST_TIMEOUT_MILLIS,
              onTimeout: () => unavailable(computer, `${computer} did not answer within ${REQUEST_TIMEOUT_MILLIS / 1000} s`)
            })
          )
        })

      return { call }
    })
  )

  /** A local-only daemon: there is no peer to ask. */
  static readonly notInFleet = Layer.succeed(Requests, {
    call: (computer) =>
      Effect.fail(new NotInFleet({ computer, message: `computer '${computer}' is unknown: this daemon runs local-only` }))
  })
}
