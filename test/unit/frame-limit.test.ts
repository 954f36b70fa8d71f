/**
 * The frame header check of `FrameLimit.ts` against a model: any sequence of
 * frames (data messages in fragments, control frames between them, all three
 * length encodings, masked or not), cut into chunks anywhere, is refused
 * exactly when a message, or a control frame, is announced over the limit.
 */
import { describe, expect, it } from "@effect/vitest"
import fc from "fast-check"
import { frameSizeCheck } from "../../src/server/FrameLimit.js"

interface Frame {
  readonly control: boolean
  readonly final: boolean
  readonly length: number
  readonly masked: boolean
}

const encode = (frame: Frame): Buffer => {
  const extended = frame.length < 126 ? 0 : frame.length < 65536 ? 2 : 8
  const header = Buffer.alloc(2 + extended + (frame.masked ? 4 : 0))
  header[0] = (frame.final ? 0x80 : 0) | (frame.control ? 0x9 : 0x2)
  header[1] = (frame.masked ? 0x80 : 0) | (extended === 0 ? frame.length : extended === 2 ? 126 : 127)
  if (extended === 2) header.writeUInt16BE(frame.length, 2)
  if (extended === 8) header.writeBigUInt64BE(BigInt(frame.length), 2)
  return Buffer.concat([header, Buffer.alloc(frame.length, 0x61)])
}

/** Whether the model refuses: a message's fragments, summed, or one control frame, over `max`. */
const overLimit = (frames: ReadonlyArray<Frame>, max: number): boolean => {
  let message = 0
  for (const frame of frames) {
    if (frame.control) {
      if (frame.length > max) return true
      continue
    }
    message += frame.length
    if (message > max) return true
    if (frame.final) message = 0
  }
  return false
}

const frame = fc.record({
  control: fc.boolean(),
  final: fc.boolean(),
  length: fc.oneof(fc.integer({ min: 0, max: 125 }), fc.integer({ min: 126, max: 70_000 })),
  masked: fc.boolean()
})

describe("frameSizeCheck", () => {
  it("refuses exactly the streams with a message or control frame over the limit, however they are cut", () => {
    fc.assert(
      fc.property(fc.array(frame, { maxLength: 8 }), fc.integer({ min: 0, max: 80_000 }), fc.array(fc.nat(), { maxLength: 20 }), (frames, max, cuts) => {
        const bytes = Buffer.concat(frames.map(encode))
        const at = [...new Set(cuts.map((cut) => cut % (bytes.length + 1)))].sort((a, b) => a - b)
        const chunks = [0, ...at].map((start, i) => bytes.subarray(start, at[i] ?? bytes.length))
        const fits = frameSizeCheck(max)
        expect(chunks.every((chunk) => fits(chunk))).toBe(!overLimit(frames, max))
      }),
      { numRuns: 300 }
    )
  })

  it("refuses a frame announcing 2^63 bytes from its header alone", () => {
    const header = Buffer.from([0x82, 0x7f, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])
    const fits = frameSizeCheck(64 * 1024)
    expect(fits(header.subarray(0, 5))).toBe(true)
    expect(fits(header.subarray(5))).toBe(false)
  })
})
