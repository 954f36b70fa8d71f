/** The WebSocket and stream decoders: what comes from outside is decoded, or refused with a reason. */
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { Either } from "effect"
import { decodePeerEvent, encodePeerEvent } from "../../src/fleet/PeerEvent.js"
import { decodeRequest } from "../../src/domain/PeerRequest.js"
import { ReplayWindow, sealFields, verifyFields } from "../../src/fleet/Seal.js"
import {
  decodeClientMessage,
  decodeServerEvent,
  encodeServerEvent,
  encodeSessions,
  encodeSessionsInitial,
  encodeTerminalOutput,
  type ServerEvent
} from "../../src/domain/Protocol.js"
import { encodePaneEntry, encodePaneOutput } from "../../src/domain/PeerTerminal.js"
import { makeSession } from "../support/fixtures.js"

describe("decodeClientMessage", () => {
  it("accepts the four messages of the protocol", () => {
    expect(decodeClientMessage('{"type":"subscribe","topic":"sessions"}')).toEqual(
      Either.right({ type: "subscribe", topic: "sessions" })
    )
    expect(decodeClientMessage('{"type":"unsubscribe","topic":"preparation"}')).toEqual(
      Either.right({ type: "unsubscribe", topic: "preparation" })
    )
    expect(decodeClientMessage('{"type":"refresh"}')).toEqual(Either.right({ type: "refresh" }))
    expect(decodeClientMessage('{"type":"ping"}')).toEqual(Either.right({ type: "ping" }))
  })

  it("answers invalid_json for a frame that is not JSON", () => {
    const result = decodeClientMessage("{nope")
    expect(Either.isLeft(result) && result.left).toMatchObject({ event: "error", data: { code: "invalid_json" } })
  })

  it.each([
    ['{"type":"subscribe","topic":"everything"}'],
    ['{"type":"dance"}'],
    ['{"topic":"sessions"}'],
    ["[]"],
    ["null"],
    ['"subscribe"']
  ])("answers unknown_message for %s", (frame) => {
    const result = decodeClientMessage(frame)
    expect(Either.isLeft(result) && result.left).toMatchObject({ event: "error", data: { code: "unknown_message" } })
  })
})

describe("decodePeerEvent", () => {
  const session = makeSession("pi", "p1")

  it("round-trips what encodePeerEvent writes", () => {
    const body = encodePeerEvent({ _tag: "session_updated", session })
    expect(decodePeerEvent({ from: "pi", body })).toEqual(Either.right({ _tag: "session_updated", session }))
  })

  it("refuses an event that speaks for another computer than its sender", () => {
    const body = encodePeerEvent({ _tag: "session_updated", session })
    const result = decodePeerEvent({ from: "mallory", body })
    expect(Either.isLeft(result) && result.left).toContain("may not speak for 'pi'")
  })

  it("refuses a snapshot smuggling in a session of another computer", () => {
    const body = encodePeerEvent({
      _tag: "sessions_snapshot",
      computer: "pi",
      sessions: [session, makeSession("laptop", "l1")]
    })
    const result = decodePeerEvent({ from: "pi", body })
    expect(Either.isLeft(result) && result.left).toContain("may not speak for 'laptop'")
  })

  it.each([
    [""],
    ["not json"],
    ['{"_tag":"session_updated"}'],
    ['{"_tag":"launch_missiles"}'],
    ['{"_tag":"goodbye","computer":"-rf"}']
  ])("refuses malformed body %j", (body) => {
    expect(Either.isLeft(decodePeerEvent({ from: "pi", body }))).toBe(true)
  })
})

describe("sealed entries", () => {
  const secret = "a-fleet-secret-of-some-length"
  const fields = sealFields(secret, "tf:events:alpha", "beta", "100-1", '{"hello":1}')

  it("verify what was sealed with the same secret, for the same stream", () => {
    expect(verifyFields(secret, "tf:events:alpha", fields)).toEqual(
      Either.right({ from: "beta", body: '{"hello":1}', seq: [100, 1] })
    )
  })

  it.each([
    ["another secret", "another-secret-entirely", "tf:events:alpha", fields],
    ["another stream", secret, "tf:events:gamma", fields],
    ["a changed body", secret, "tf:events:alpha", { ...fields, body: '{"hello":2}' }],
    ["a changed sender", secret, "tf:events:alpha", { ...fields, from: "alpha" }],
    ["a changed sequence", secret, "tf:events:alpha", { ...fields, seq: "100-2" }],
    ["no signature", secret, "tf:events:alpha", { from: "beta", seq: "100-1", body: "{}" }],
    ["a garbage signature", secret, "tf:events:alpha", { ...fields, sig: "zz" }]
  ])("refuse %s", (_, key, where, entry) => {
    expect(Either.isLeft(verifyFields(key, where, entry))).toBe(true)
  })
})

describe("ReplayWindow", () => {
  it("accepts each sequence once, tolerates reordering, refuses what is too old", () => {
    const window = new ReplayWindow()
    expect(window.accept([5, 10])).not.toBe("refused")
    expect(window.accept([5, 10])).toBe("refused")
    expect(window.accept([5, 12])).not.toBe("refused")
    expect(window.accept([5, 11])).not.toBe("refused")
    expect(window.accept([5, 11])).toBe("refused")
    expect(window.accept([5, 5000])).not.toBe("refused")
    expect(window.accept([5, 13])).toBe("refused")
    expect(window.accept([4, 9999])).toBe("refused")
    expect(window.accept([6, 1])).not.toBe("refused")
    expect(window.accept([5, 5001])).toBe("refused")
  })

  it("refuses exactly what was seen before or fell out of the last 1024, whatever the order", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 5000 }), { maxLength: 400 }), (counters) => {
        const window = new ReplayWindow()
        const seen = new Set<number>()
        let high = 0
        for (const counter of counters) {
          const expected = seen.has(counter) || counter <= high - 1024 ? "refused" : "taken"
          expect([counter, window.accept([1, counter]) === "refused" ? "refused" : "taken"]).toEqual([counter, expected])
          if (expected === "taken") {
            seen.add(counter)
            high = Math.max(high, counter)
          }
        }
      }),
      { numRuns: 500 }
    )
  })

  it("tells a gap when a sender it knows skips numbers, within a run or across a restart", () => {
    const window = new ReplayWindow()
    expect(window.accept([5, 7])).toBe("next") // first contact: what came before is not this reader's loss
    expect(window.accept([5, 8])).toBe("next")
    expect(window.accept([5, 11])).toBe("gap") // 9 and 10 are missing
    expect(window.accept([5, 10])).toBe("next") // a late one fills in, not a new gap
    expect(window.accept([6, 1])).toBe("next") // the sender restarted and starts at 1
    expect(window.accept([7, 3])).toBe("gap") // restarted again, and its first two are missing
  })
})

describe("server events", () => {
  const session = makeSession("alpha", "s1", { title: "build" })
  const computer = { name: "alpha", version: "0.1.0", startedAt: 1, lastSeen: 2, interestedIn: ["sessions" as const] }
  const events: ReadonlyArray<ServerEvent> = [
    { event: "sessions_initial", data: { sessions: [session], computers: [computer] }, seq: 0 },
    { event: "preparation_initial", data: { projects: [{ computer: "alpha", path: "/p", name: "p" }], todos: [] }, seq: 3 },
    { event: "session_updated", data: session, seq: 4 },
    { event: "session_removed", data: { sessionId: "s1", computer: "alpha" }, seq: 5 },
    { event: "computer_updated", data: computer, seq: 6 },
    { event: "computer_removed", data: { name: "alpha" }, seq: 7 },
    { event: "projects_updated", data: { computer: "alpha", projects: [] }, seq: 8 },
    { event: "todos_updated", data: { computer: "alpha", todos: [{ computer: "alpha", projectPath: "/p", slug: "t", title: "T", status: "ready" }] }, seq: 9 },
    { event: "pong", data: null },
    { event: "error", data: { code: "unknown_message", message: "no" } },
    { event: "terminal_closed", data: { sessionId: "s1", reason: "ended", message: "gone" } }
  ]

  it("decode what they encode, as {event, data, seq}", () => {
    for (const event of events) {
      const text = encodeServerEvent(event)
      expect(Object.keys(JSON.parse(text))).toEqual("seq" in event ? ["event", "data", "seq"] : ["event", "data"])
      expect(decodeServerEvent(text)).toEqual(Either.right(event))
    }
  })

  it("refuses to encode an event its Schema does not describe", () => {
    const bad = { event: "error", data: { code: "made_up", message: "no" } } as unknown as ServerEvent
    expect(() => encodeServerEvent(bad)).toThrow(/made_up/)
  })

  it.each([
    ['{"event":"surprise","data":{}}'],
    ['{"event":"session_updated","data":{"sessionId":"s1"},"seq":1}'],
    ['{"event":"session_removed","data":{"sessionId":"s1","computer":"alpha"}}'],
    ["not json"]
  ])("are refused when malformed: %s", (frame) => {
    expect(Either.isLeft(decodeServerEvent(frame))).toBe(true)
  })
})

describe("encodeSessionsInitial", () => {
  it("gives the same text as encodeServerEvent for the same sessions, computers and seq", () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ id: fc.string({ minLength: 1 }), title: fc.string(), output: fc.string({ unit: "grapheme" }) }), { maxLength: 5 }),
        fc.nat(),
        (rows, seq) => {
          const sessions = rows.map((r) => makeSession("alpha", r.id, { title: r.title, lastOutput: r.output }))
          const computers = [{ name: "alpha", version: "0.1.0", startedAt: 1, lastSeen: 2, interestedIn: ["sessions" as const] }]
          expect(encodeSessionsInitial(encodeSessions(sessions), computers, seq))
            .toBe(encodeServerEvent({ event: "sessions_initial", data: { sessions, computers }, seq }))
        }
      ),
      { numRuns: 300 }
    )
  })
})

describe("the direct encodings of terminal output", () => {
  it("give the same text as the Schema for the same values", () => {
    fc.assert(
      fc.property(fc.string(), fc.nat(), fc.nat(), fc.base64String(), (sessionId, epoch, offset, data) => {
        const position = `${epoch}-${offset}`
        expect(encodeTerminalOutput({ sessionId, position, data }))
          .toBe(encodeServerEvent({ event: "terminal_output", data: { sessionId, position, data } }))
        expect(encodePaneOutput(position, data)).toBe(encodePaneEntry({ _tag: "output", position, data }))
      }),
      { numRuns: 300 }
    )
  })
})

describe("decodeRequest", () => {
  it("asks for 1 to 2000 whole lines of output, nothing else", () => {
    const body = (lines: unknown) => JSON.stringify({ id: "0123abcd", deadline: 1, request: { _tag: "output", sessionId: "s1", lines } })
    expect([1, 2000].map((lines) => Either.isRight(decodeRequest(body(lines))))).toEqual([true, true])
    expect([0, 2001, 1.5, -3, "50", 1e9].map((lines) => Either.isLeft(decodeRequest(body(lines))))).toEqual([true, true, true, true, true, true])
  })
})
