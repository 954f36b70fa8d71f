/** The live-terminal messages of `/ws`: decoded with their Schema, or refused as unknown. */
import { Either } from "effect"
import { describe, expect, it } from "vitest"
import { decodeClientMessage } from "../../src/domain/Protocol.js"
import { formatPosition, parsePosition } from "../../src/domain/TerminalProtocol.js"

describe("terminal messages", () => {
  it("decodes attach, keys, resize and detach", () => {
    expect(decodeClientMessage('{"type":"attach","sessionId":"3f2a9c0d1e4b","cols":80,"rows":24}')).toEqual(
      Either.right({ type: "attach", sessionId: "3f2a9c0d1e4b", cols: 80, rows: 24 })
    )
    expect(
      decodeClientMessage('{"type":"attach","sessionId":"s1","computer":"alpha","cols":120,"rows":40,"from":"1764000000000-4096"}')
    ).toEqual(Either.right({ type: "attach", sessionId: "s1", computer: "alpha", cols: 120, rows: 40, from: "1764000000000-4096" }))
    expect(decodeClientMessage(JSON.stringify({ type: "keys", sessionId: "s1", data: "\u0003\u001b[Aé✓" }))).toEqual(
      Either.right({ type: "keys", sessionId: "s1", data: "\u0003\u001b[Aé✓" })
    )
    expect(decodeClientMessage('{"type":"keys","sessionId":"s1","data":"G1tNICA=","encoding":"base64"}')).toEqual(
      Either.right({ type: "keys", sessionId: "s1", data: "G1tNICA=", encoding: "base64" })
    )
    expect(decodeClientMessage('{"type":"resize","sessionId":"s1","cols":100,"rows":30}')).toEqual(
      Either.right({ type: "resize", sessionId: "s1", cols: 100, rows: 30 })
    )
    expect(decodeClientMessage('{"type":"detach","sessionId":"s1"}')).toEqual(Either.right({ type: "detach", sessionId: "s1" }))
  })

  it.each([
    ['{"type":"attach","sessionId":"s1","cols":0,"rows":24}'],
    ['{"type":"attach","sessionId":"s1","cols":80.5,"rows":24}'],
    ['{"type":"attach","sessionId":"s1","cols":80,"rows":5000}'],
    ['{"type":"attach","sessionId":"s1","cols":80,"rows":24,"from":"latest"}'],
    ['{"type":"attach","sessionId":"$1:0","cols":80,"rows":24}'],
    ['{"type":"attach","sessionId":"s1","computer":"-bad","cols":80,"rows":24}'],
    ['{"type":"keys","sessionId":"s1","data":""}'],
    ['{"type":"keys","sessionId":"s1","data":"x","encoding":"hex"}'],
    ['{"type":"resize","sessionId":"s1","cols":80}']
  ])("refuses %s as unknown_message", (frame) => {
    const result = decodeClientMessage(frame)
    expect(Either.isLeft(result) && result.left).toMatchObject({ event: "error", data: { code: "unknown_message" } })
  })

  it("positions are epoch and byte offset", () => {
    expect(parsePosition(formatPosition(1764000000000, 12345))).toEqual([1764000000000, 12345])
  })
})
