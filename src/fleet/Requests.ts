/**
 * Request/response between daemons over Redis streams: remote create, input,
 * end and output. The requester XADDs to the target's request stream and
 * waits on a reply stream of its own with a blocking XREAD and a timeout; the
 * target answers and lets the reply stream expire.
 */
import { Clock, Context, Effect, Either, Layer, Schema } from "effect"
import { randomBytes } from "node:crypto"
import { fleetServices } from "./Fleet.js"
import { Limits } from "../domain/Limits.js"
import { Retention } from "./RedisKeys.js"
import { LocalSessions } from "../local/LocalSessions.js"
import {
  decodeReply,
  decodeRequest,
  encodeReply,
  encodeRequest,
  type PeerReply,
  type PeerRequest,
  type RequestBody
} from "../domain/PeerRequest.js"
import { consumeStream } from "./StreamConsumer.js"

export class PeerUnavailable extends Schema.TaggedError<PeerUnavailable>()("PeerUnavailable", {
  computer: Schema.String,
  message: Schema.String
}) {}

/** How long a requester waits for an answer. */
export const REQUEST_TIMEOUT_MILLIS = 5_000
/** A reply stream lives this long, answered or not, so none is left behind. */
const REPLY_TTL_MILLIS = 30_000
/**
 * Requests past their deadline by more than this are dropped unexecuted: the
 * requester has given up and told its user so, and a create or input done
 * later anyway would surprise them. It is the clock skew the fleet tolerates.
 */
const STALE_AFTER_MILLIS = 5_000

export interface RequestsService {
  readonly call: (computer: string, request: PeerRequest) => Effect.Effect<PeerReply, PeerUnavailable>
}

const failed = (kind: "SessionNotFound" | "InvalidSessionInput" | "TmuxError", message: string): PeerReply => ({
  _tag: "failed",
  kind,
  message
})

export class Requests extends Context.Tag("termfleet/Requests")<Requests, RequestsService>() {
  static readonly layer = Layer.scoped(
    Requests,
    Effect.gen(function*() {
      const { keys, redis, seal, self, stats } = yield* fleetServices
      const local = yield* LocalSessions

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

      const answer = (from: string, { deadline, id, request }: RequestBody) =>
        Effect.gen(function*() {
          const now = yield* Clock.currentTimeMillis
          if (now > deadline + STALE_AFTER_MILLIS) {
            return yield* Effect.logDebug(`dropped stale request ${id} from ${from}`)
          }
          const reply = yield* execute(request)
          yield* redis.xadd(keys.reply(id), yield* seal.seal(keys.reply(id), encodeReply(reply)), 10, REPLY_TTL_MILLIS)
        })

      yield* consumeStream({
        stream: keys.requests(self),
        cursorKey: keys.requestsCursor(self),
        cursorTtlMillis: Retention.requestsMillis,
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

      const calls = yield* Effect.makeSemaphore(Limits.pendingPeerRequests)
      const call = (computer: string, request: PeerRequest) =>
        calls.withPermits(1)(Effect.scoped(Effect.gen(function*() {
          const id = randomBytes(12).toString("hex")
          const now = yield* Clock.currentTimeMillis
          const replies = yield* redis.reader
          const body = encodeRequest({ id, deadline: now + REQUEST_TIMEOUT_MILLIS, request })
          yield* redis.xadd(keys.requests(computer), yield* seal.seal(keys.requests(computer), body), 1_000, Retention.requestsMillis)
          const [entry] = yield* replies.xread(keys.reply(id), "0", { blockMillis: REQUEST_TIMEOUT_MILLIS, count: 1 })
          if (entry === undefined) {
            return yield* unavailable(computer, `${computer} did not answer within ${REQUEST_TIMEOUT_MILLIS / 1000} s`)
          }
          const reply = Either.flatMap(seal.verify(keys.reply(id), entry.fields), (opened) =>
            opened.from === computer ? decodeReply(opened.body) : Either.left(`answered by '${opened.from}'`))
          return yield* Either.match(reply, {
            onLeft: (reason) => Effect.fail(unavailable(computer, `${computer} sent a garbled reply: ${reason}`)),
            onRight: Effect.succeed
          })
        }))).pipe(
          Effect.catchTag("RedisError", (e) => Effect.fail(unavailable(computer, `Redis: ${e.message}`))),
          // Whatever Redis does, the caller has its answer by the deadline.
          Effect.timeoutFail({
            duration: REQUEST_TIMEOUT_MILLIS,
            onTimeout: () => unavailable(computer, `${computer} did not answer within ${REQUEST_TIMEOUT_MILLIS / 1000} s`)
          })
        )

      return { call }
    })
  )
}
