/**
 * Property-based fuzzing (fast-check) of every decoder facing the outside:
 * WebSocket frames (`decodeClientMessage`), stream entries (`verifyFields`,
 * `decodePeerEvent`) and requests between daemons (`decodeRequest`,
 * `decodeReply`). None may throw, whatever it is given; each answers an
 * Either; valid values survive a round trip; and no single-character change
 * to a sealed entry (its stream, sender, sequence, signature or body) is
 * accepted.
 */
import { Either } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import type { Computer, Project, Session, Todo } from "../../src/domain/Model.js"
import { decodePeerEvent, encodePeerEvent, type PeerEvent } from "../../src/fleet/PeerEvent.js"
import {
  decodeReply,
  decodeRequest,
  encodeReply,
  encodeRequest,
  type PeerReply,
  type PeerRequest,
  type RequestBody
} from "../../src/domain/PeerRequest.js"
import { type ClientMessage, decodeClientMessage } from "../../src/domain/Protocol.js"
import { sealFields, verifyFields } from "../../src/fleet/Seal.js"

const RUNS = 5000
const run = <Ts extends [unknown, ...Array<unknown>]>(property: fc.IProperty<Ts>, numRuns = RUNS) =>
  fc.assert(property, { numRuns })

// ---------------------------------------------------------------------------
// Arbitraries

/** Any text, whole code points (what a socket or Redis can carry). */
const text = fc.string({ unit: "binary", maxLength: 64 })
const anyJsonText = fc.oneof(fc.json({ maxDepth: 3 }), fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)))
/** A finite number JSON carries as is (-0 is written as 0). */
const number = fc.double({ noNaN: true, noDefaultInfinity: true }).map((n) => (n === 0 ? 0 : n))
const computerName = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/)
const topic = fc.constantFrom("sessions" as const, "preparation" as const)

const sessionOf = (computer: string) =>
  fc.record({
    sessionId: text,
    computer: fc.constant(computer),
    title: text,
    projectPath: fc.option(text, { nil: null }),
    command: text,
    status: fc.constantFrom("running" as const, "idle" as const, "exited" as const),
    createdAt: number,
    lastActivity: number,
    lastInput: fc.option(text, { nil: null }),
    lastOutput: fc.string({ unit: "binary", maxLength: 512 })
  }) satisfies fc.Arbitrary<Session>

const computerOf = (name: string) =>
  fc.record({ name: fc.constant(name), version: text, startedAt: number, lastSeen: number, interestedIn: fc.array(topic, { maxLength: 3 }) }) satisfies fc.Arbitrary<Computer>
const projectOf = (computer: string) => fc.record({ computer: fc.constant(computer), path: text, name: text }) satisfies fc.Arbitrary<Project>
const todoOf = (computer: string) =>
  fc.record({
    computer: fc.constant(computer),
    projectPath: text,
    slug: text,
    title: text,
    status: fc.constantFrom("pending" as const, "ready" as const, "in_progress" as const, "done" as const)
  }) satisfies fc.Arbitrary<Todo>

/** A peer event speaking only for `from`, as a genuine sender writes. */
const peerEventOf = (from: string): fc.Arbitrary<PeerEvent> =>
  fc.oneof(
    sessionOf(from).map((session): PeerEvent => ({ _tag: "session_updated", session })),
    text.map((sessionId): PeerEvent => ({ _tag: "session_removed", ref: { sessionId, computer: from } })),
    fc.array(sessionOf(from), { maxLength: 4 }).map((sessions): PeerEvent => ({ _tag: "sessions_snapshot", computer: from, sessions })),
    computerOf(from).map((computer): PeerEvent => ({ _tag: "heartbeat", computer })),
    fc.constant<PeerEvent>({ _tag: "goodbye", computer: from }),
    fc.array(projectOf(from), { maxLength: 4 }).map((projects): PeerEvent => ({ _tag: "projects_updated", computer: from, projects })),
    fc.array(todoOf(from), { maxLength: 4 }).map((todos): PeerEvent => ({ _tag: "todos_updated", computer: from, todos }))
  )

const sentPeerEvent = computerName.chain((from) => peerEventOf(from).map((event) => ({ from, event })))

/** An event by `from` in which some value speaks for `other`. */
const foreignPeerEvent = fc
  .tuple(computerName, computerName)
  .filter(([from, other]) => from !== other)
  .chain(([from, other]) =>
    fc.oneof(
      sessionOf(other).map((session): PeerEvent => ({ _tag: "session_updated", session })),
      text.map((sessionId): PeerEvent => ({ _tag: "session_removed", ref: { sessionId, computer: other } })),
      fc.tuple(fc.array(sessionOf(from), { maxLength: 2 }), sessionOf(other)).map(([mine, theirs]): PeerEvent => ({
        _tag: "sessions_snapshot",
        computer: from,
        sessions: [...mine, theirs]
      })),
      computerOf(other).map((computer): PeerEvent => ({ _tag: "heartbeat", computer })),
      fc.constant<PeerEvent>({ _tag: "goodbye", computer: other }),
      projectOf(other).map((project): PeerEvent => ({ _tag: "projects_updated", computer: from, projects: [project] })),
      todoOf(other).map((todo): PeerEvent => ({ _tag: "todos_updated", computer: from, todos: [todo] }))
    ).map((event) => ({ from, other, event }))
  )

const validClientMessage: fc.Arbitrary<ClientMessage> = fc.oneof(
  topic.map((t): ClientMessage => ({ type: "subscribe", topic: t })),
  topic.map((t): ClientMessage => ({ type: "unsubscribe", topic: t })),
  fc.constant<ClientMessage>({ type: "refresh" }),
  fc.constant<ClientMessage>({ type: "ping" })
)

/** Near misses: the right shape with a wrong type, topic or value. */
const notAType = text.filter((t) => !["subscribe", "unsubscribe", "refresh", "ping"].includes(t))
const notATopic = text.filter((t) => t !== "sessions" && t !== "preparation")
const nearMissClientMessage = fc.oneof(
  fc.record({ type: fc.oneof(notAType, fc.constantFrom("Subscribe", "PING", "ping ", "")), topic: fc.option(topic) }),
  fc.record({ type: fc.constantFrom("subscribe", "unsubscribe"), topic: fc.oneof(notATopic, fc.constantFrom("Sessions", "all", "")) }),
  fc.record({ type: fc.constantFrom("subscribe", "unsubscribe") }),
  fc.record({ type: fc.oneof(fc.integer(), fc.boolean(), fc.constant(null), fc.array(fc.string())) }),
  fc.record({ topic })
).map((value) => JSON.stringify(value))

// Valid requests keep within the payload limits of domain/Limits.ts: no NUL, titles without control characters, input not empty.
const withoutNul = text.filter((t) => !t.includes("\u0000"))
const title = text.filter((t) => !/[\u0000-\u001f\u007f-\u009f]/.test(t))
const peerRequest: fc.Arbitrary<PeerRequest> = fc.oneof(
  fc.record(
    { _tag: fc.constant("create" as const), title, projectPath: fc.option(text, { nil: null }), command: withoutNul },
    { requiredKeys: ["_tag"] }
  ),
  fc.record({ _tag: fc.constant("input" as const), sessionId: text, text: withoutNul.filter((t) => t.length > 0) }),
  fc.record({ _tag: fc.constant("end" as const), sessionId: text }),
  fc.record({ _tag: fc.constant("output" as const), sessionId: text, lines: fc.integer({ min: 1, max: 2000 }) })
)
const requestBody: fc.Arbitrary<RequestBody> = fc.record({
  id: fc.stringMatching(/^[0-9a-f]{8,64}$/),
  deadline: number,
  request: peerRequest
})
const peerReply: fc.Arbitrary<PeerReply> = fc.oneof(
  computerName.chain((c) => sessionOf(c)).map((session): PeerReply => ({ _tag: "session", session })),
  fc.string({ unit: "binary", maxLength: 512 }).map((output): PeerReply => ({ _tag: "output", output })),
  fc.constant<PeerReply>({ _tag: "done" }),
  fc.record({
    _tag: fc.constant("failed" as const),
    kind: fc.constantFrom("SessionNotFound" as const, "InvalidSessionInput" as const, "TmuxError" as const),
    message: text
  })
)

/** One character replaced (by a different one), inserted or deleted, at code point level. */
const mutate = (value: string, kind: number, at: number, char: string): string => {
  const chars = [...value]
  const i = chars.length === 0 ? 0 : at % (kind === 1 ? chars.length + 1 : chars.length)
  if (kind === 0 && chars.length > 0) {
    chars[i] = chars[i] === char ? (char === "a" ? "b" : "a") : char
  } else if (kind === 2 && chars.length > 0) {
    chars.splice(i, 1)
  } else {
    chars.splice(i, 0, char)
  }
  return chars.join("")
}
/** Characters to mutate with: any code point, and the hex digits a signature is made of (both cases). */
const mutationChar = fc.oneof(
  fc.string({ unit: "binary", minLength: 1, maxLength: 1 }),
  fc.constantFrom(..."0123456789abcdefABCDEF"),
  fc.constantFrom("-", "\n", " ")
)

const SECRET = "fuzz-fleet-secret-0123456789"
const seqText = fc.tuple(fc.nat({ max: Number.MAX_SAFE_INTEGER }), fc.nat({ max: Number.MAX_SAFE_INTEGER }))
const streamKey = fc.oneof(computerName.map((c) => `termfleet:events:${c}`), text)

// ---------------------------------------------------------------------------

describe("decodeClientMessage (WebSocket frames)", () => {
  const isErrorEvent = (result: ReturnType<typeof decodeClientMessage>) =>
    Either.isLeft(result) &&
    result.left.event === "error" &&
    (result.left.data.code === "invalid_json" || result.left.data.code === "unknown_message") &&
    result.left.data.message.length > 0

  it("never throws on any text and answers either a message or an error event with a reason", () =>
    run(fc.property(fc.oneof(fc.string({ unit: "binary" }), fc.string({ unit: "grapheme" }), anyJsonText, nearMissClientMessage), (frame) => {
      const result = decodeClientMessage(frame)
      expect(Either.isEither(result)).toBe(true)
      if (Either.isLeft(result)) expect(isErrorEvent(result)).toBe(true)
    })))

  it("refuses near misses with unknown_message", () =>
    run(fc.property(nearMissClientMessage, (frame) => {
      const result = decodeClientMessage(frame)
      expect(Either.isLeft(result) && result.left.data).toMatchObject({ code: "unknown_message" })
    })))

  it("refuses text that is not JSON with invalid_json", () =>
    run(fc.property(fc.string({ unit: "binary" }), (frame) => {
      let json = true
      try {
        JSON.parse(frame)
      } catch {
        json = false
      }
      fc.pre(!json)
      const result = decodeClientMessage(frame)
      expect(Either.isLeft(result) && result.left.data).toMatchObject({ code: "invalid_json" })
    })))

  it("always decodes a valid message, however it is laid out and whatever extra fields it carries", () =>
    run(fc.property(
      validClientMessage,
      fc.dictionary(fc.string().filter((k) => k !== "type" && k !== "topic" && k !== "__proto__"), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }),
      fc.constantFrom(undefined, 0, 1, 2, "\t"),
      (message, extra, indent) => {
        const frame = JSON.stringify({ ...extra, ...message }, null, indent)
        expect(decodeClientMessage(frame)).toEqual(Either.right(message))
      }
    )))
})

describe("verifyFields (sealed stream entries)", () => {
  it("never throws on arbitrary fields and refuses what it did not seal", () =>
    run(fc.property(
      fc.oneof(
        fc.dictionary(text, text, { maxKeys: 6 }),
        fc.record({ from: text, seq: fc.oneof(text, seqText.map(([a, b]) => `${a}-${b}`)), sig: fc.oneof(text, fc.stringMatching(/^[0-9a-f]{64}$/)), body: text }, { requiredKeys: [] })
      ),
      streamKey,
      (fields, where) => {
        const result = verifyFields(SECRET, where, fields)
        expect(Either.isEither(result)).toBe(true)
        expect(Either.isLeft(result)).toBe(true)
      }
    )))

  it("opens what it sealed: sender, sequence and body come back as sealed", () =>
    run(fc.property(streamKey, computerName, seqText, fc.string({ unit: "binary", maxLength: 512 }), (where, from, [epoch, counter], body) => {
      const fields = sealFields(SECRET, where, from, `${epoch}-${counter}`, body)
      expect(verifyFields(SECRET, where, fields)).toEqual(Either.right({ from, body, seq: [epoch, counter] }))
    })))

  it("refuses any single-character change to a sealed entry: its stream, sender, sequence, signature or body", () =>
    run(fc.property(
      streamKey,
      computerName,
      seqText,
      fc.string({ unit: "binary", maxLength: 256 }),
      fc.constantFrom("where" as const, "from" as const, "seq" as const, "sig" as const, "body" as const),
      fc.nat({ max: 2 }),
      fc.nat(),
      mutationChar,
      (where, from, [epoch, counter], body, part, kind, at, char) => {
        const fields = sealFields(SECRET, where, from, `${epoch}-${counter}`, body)
        const changed = part === "where" ? mutate(where, kind, at, char) : where
        const tampered = part === "where" ? fields : { ...fields, [part]: mutate(fields[part]!, kind, at, char) }
        const result = verifyFields(SECRET, changed, tampered)
        if (Either.isRight(result)) {
          throw new Error(
            `a tampered entry was accepted: ${part} ${JSON.stringify(part === "where" ? where : fields[part])} -> ${
              JSON.stringify(part === "where" ? changed : tampered[part])
            }`
          )
        }
      }
    )))

  it("refuses a signature spelled differently: a character appended, hex letters upper-cased", () => {
    const where = "termfleet:events:alpha"
    const fields = sealFields(SECRET, where, "beta", "1-1", "{}")
    for (const sig of [`${fields.sig}0`, `${fields.sig}z`, fields.sig!.toUpperCase(), ` ${fields.sig}`]) {
      expect({ sig, verdict: verifyFields(SECRET, where, { ...fields, sig })._tag }).toEqual({ sig, verdict: "Left" })
    }
  })

  it("refuses an entry sealed with another secret", () =>
    run(fc.property(streamKey, computerName, seqText, text, fc.string({ minLength: 1 }), (where, from, [e, c], body, other) => {
      fc.pre(other !== SECRET)
      expect(Either.isLeft(verifyFields(SECRET, where, sealFields(other, where, from, `${e}-${c}`, body)))).toBe(true)
    })))
})

describe("decodePeerEvent (bodies of opened event entries)", () => {
  it("never throws on arbitrary bodies and answers an Either", () =>
    run(fc.property(fc.oneof(text, computerName), fc.oneof(fc.string({ unit: "binary" }), anyJsonText), (from, body) => {
      expect(Either.isEither(decodePeerEvent({ from, body }))).toBe(true)
    })))

  it("never throws on near misses: a valid event with one character changed", () =>
    run(fc.property(sentPeerEvent, fc.nat({ max: 2 }), fc.nat(), mutationChar, ({ from, event }, kind, at, char) => {
      expect(Either.isEither(decodePeerEvent({ from, body: mutate(encodePeerEvent(event), kind, at, char) }))).toBe(true)
    })))

  it("decodes every valid event its sender may send, as sent", () =>
    run(fc.property(sentPeerEvent, ({ from, event }) => {
      expect(decodePeerEvent({ from, body: encodePeerEvent(event) })).toEqual(Either.right(event))
    })))

  it("refuses an event speaking for another computer than its sender", () =>
    run(fc.property(foreignPeerEvent, ({ from, other, event }) => {
      const result = decodePeerEvent({ from, body: encodePeerEvent(event) })
      expect(Either.isLeft(result) && result.left).toContain(`may not speak for '${other}'`)
    })))
})

describe("decodeRequest / decodeReply (requests between daemons)", () => {
  it("never throw on arbitrary bodies and answer an Either", () =>
    run(fc.property(fc.oneof(fc.string({ unit: "binary" }), anyJsonText), (body) => {
      expect(Either.isEither(decodeRequest(body))).toBe(true)
      expect(Either.isEither(decodeReply(body))).toBe(true)
    })))

  it("never throw on near misses: a valid request or reply with one character changed", () =>
    run(fc.property(requestBody, peerReply, fc.nat({ max: 2 }), fc.nat(), mutationChar, (request, reply, kind, at, char) => {
      expect(Either.isEither(decodeRequest(mutate(encodeRequest(request), kind, at, char)))).toBe(true)
      expect(Either.isEither(decodeReply(mutate(encodeReply({ id: request.id, reply }), kind, at, char)))).toBe(true)
    })))

  it("decode every valid request and reply as encoded", () =>
    run(fc.property(requestBody, peerReply, (request, reply) => {
      expect(decodeRequest(encodeRequest(request))).toEqual(Either.right(request))
      expect(decodeReply(encodeReply({ id: request.id, reply }))).toEqual(Either.right({ id: request.id, reply }))
    })))

  it("refuse a request id that is not 8-64 lowercase hex digits", () =>
    run(fc.property(requestBody, text.filter((id) => !/^[0-9a-f]{8,64}$/.test(id)), (body, id) => {
      expect(Either.isLeft(decodeRequest(JSON.stringify({ ...body, id })))).toBe(true)
    })))
})
