/**
 * How `attach` and `send --keys` find the computer of the session they name
 * among the daemon's sessions (`src/cli/FindSession.ts`).
 */
import { afterEach, describe, expect, it, vi } from "vitest"
import { FIND_FOR_MILLIS, findSession } from "../../src/cli/FindSession.js"

const ref = (sessionId: string, computer: string) => ({ sessionId, computer })
const initial = (sessions: ReadonlyArray<{ sessionId: string; computer: string }>, computers: ReadonlyArray<string>) => ({
  event: "sessions_initial" as const,
  data: { sessions, computers: computers.map((name) => ({ name })) }
})

const finder = (sessionId: string) => {
  const sent: Array<unknown> = []
  const found: Array<string | undefined> = []
  const finding = findSession(sessionId, (message) => sent.push(message), (computer) => found.push(computer))
  finding.start()
  return { finding, sent, found }
}

describe("finding a session's computer", () => {
  afterEach(() => void vi.useRealTimers())

  it("subscribes, takes the computer from the first listing that has the session, and unsubscribes", () => {
    const { finding, found, sent } = finder("s1")
    finding.frame(initial([ref("s0", "alpha"), ref("s1", "beta")], ["alpha", "beta"]))
    expect(found).toEqual(["beta"])
    expect(sent).toEqual([{ type: "subscribe", topic: "sessions" }, { type: "unsubscribe", topic: "sessions" }])
  })

  it("in a fleet, waits for the session to show up from a peer", () => {
    const { finding, found } = finder("s1")
    finding.frame(initial([], ["alpha", "beta"]))
    expect(found).toEqual([])
    finding.frame({ event: "session_updated", data: ref("s1", "beta") })
    expect(found).toEqual(["beta"])
  })

  it("in a fleet, gives up after FIND_FOR_MILLIS without it", () => {
    vi.useFakeTimers()
    const { finding, found } = finder("s1")
    finding.frame(initial([], ["alpha", "beta"]))
    vi.advanceTimersByTime(FIND_FOR_MILLIS - 1)
    expect(found).toEqual([])
    vi.advanceTimersByTime(1)
    expect(found).toEqual([undefined])
  })

  it("a daemon with no live peer lists every session there is: an unknown one is not waited for", () => {
    const { finding, found } = finder("nope")
    finding.frame(initial([ref("s0", "alpha")], ["alpha"]))
    expect(found).toEqual([undefined])
    // Answered once only.
    finding.frame({ event: "session_updated", data: ref("nope", "alpha") })
    expect(found).toEqual([undefined])
  })
})
