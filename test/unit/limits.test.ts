/** The payload limits of `Limits.ts`, as every decoder of a payload applies them (REST bodies and requests between daemons). */
import { describe, expect, it } from "vitest"
import { Either, Schema } from "effect"
import fc from "fast-check"
import { InputBody } from "../../src/domain/Api.js"
import { Command, InputText, Limits, OutputLines, Title } from "../../src/domain/Limits.js"
import { CreateSessionBody, decodeRequest } from "../../src/domain/PeerRequest.js"

const accepts = <A, I>(schema: Schema.Schema<A, I>, value: unknown) => Either.isRight(Schema.decodeUnknownEither(schema)(value))
const problem = <A, I>(schema: Schema.Schema<A, I>, value: unknown) =>
  Either.match(Schema.decodeUnknownEither(schema)(value), { onLeft: (e) => e.message, onRight: () => "accepted" })

describe("input text", () => {
  it("is 1 byte to 16 KiB of UTF-8, without NUL", () => {
    expect(accepts(InputText, " ")).toBe(true)
    expect(accepts(InputText, "x".repeat(Limits.inputBytes))).toBe(true)
    expect(problem(InputText, "")).toContain("input text is empty")
    expect(problem(InputText, "✓".repeat(6000))).toContain(`input text is at most ${Limits.inputBytes} bytes of UTF-8`)
    expect(problem(InputText, "a\u0000")).toContain("input text must not contain NUL")
  })

  it("counts bytes as UTF-8 does, whatever the characters (lone surrogates included)", () => {
    // A piece of any characters, repeated to just under, at or just over the limit.
    fc.assert(
      fc.property(fc.string({ unit: "binary", minLength: 1, maxLength: 12 }), fc.integer({ min: -2, max: 2 }), (piece, off) => {
        const clean = piece.replaceAll("\u0000", "") || "x"
        const text = clean.repeat(Math.max(1, Math.floor(Limits.inputBytes / Buffer.byteLength(clean)) + off))
        expect(accepts(InputText, text)).toBe(Buffer.byteLength(text) <= Limits.inputBytes)
      }),
      { numRuns: 60 }
    )
    for (const text of ["\ud800", "\udc00", "\ud800é", "😀"]) {
      expect(accepts(InputText, text.repeat(Limits.inputBytes / Buffer.byteLength(text)))).toBe(true)
      expect(accepts(InputText, text.repeat(Limits.inputBytes / Buffer.byteLength(text) + 1))).toBe(false)
    }
  })
})

describe("titles and commands", () => {
  it("a title is at most 100 characters (code points), without control characters", () => {
    expect(accepts(Title, "é".repeat(Limits.titleChars))).toBe(true)
    expect(accepts(Title, "😀".repeat(Limits.titleChars))).toBe(true)
    expect(problem(Title, "é".repeat(Limits.titleChars + 1))).toContain(`a title is at most ${Limits.titleChars} characters`)
    for (const title of ["new\nline", "tab\there", "esc\u001b[31m", "c1\u0085"]) {
      expect(problem(Title, title)).toContain("a title must not contain control characters")
    }
  })

  it("a title is well-formed Unicode: half of a surrogate pair (no UTF-8 form) is refused, a whole pair taken", () => {
    expect(problem(Title, "a\ud800b")).toContain("a title must be valid Unicode")
    expect(problem(Title, "\udc00")).toContain("a title must be valid Unicode")
    expect(accepts(Title, "\ud83d\ude00")).toBe(true)
  })

  it("a command is at most 4096 characters, without NUL", () => {
    expect(accepts(Command, "x".repeat(Limits.commandChars))).toBe(true)
    expect(problem(Command, "x".repeat(Limits.commandChars + 1))).toContain(`a command is at most ${Limits.commandChars} characters`)
    expect(problem(Command, "a\u0000b")).toContain("a command must not contain NUL")
  })

  it("output is 1 to 2000 whole lines", () => {
    expect([1, Limits.outputLines].map((n) => accepts(OutputLines, n))).toEqual([true, true])
    expect([0, Limits.outputLines + 1, 1.5, -1].map((n) => accepts(OutputLines, n))).toEqual([false, false, false, false])
  })
})

describe("the payloads that carry them", () => {
  it("REST bodies", () => {
    expect(accepts(CreateSessionBody, { title: "t", command: "cat" })).toBe(true)
    expect(accepts(CreateSessionBody, { title: "x".repeat(Limits.titleChars + 1) })).toBe(false)
    expect(accepts(CreateSessionBody, { command: "x".repeat(Limits.commandChars + 1) })).toBe(false)
    expect(accepts(InputBody, { text: "x".repeat(Limits.inputBytes + 1) })).toBe(false)
  })

  it("requests between daemons", () => {
    const request = (request: unknown) => JSON.stringify({ id: "0123abcd", deadline: 1, request })
    expect(Either.isRight(decodeRequest(request({ _tag: "input", sessionId: "s1", text: "ls\n" })))).toBe(true)
    for (const bad of [
      { _tag: "input", sessionId: "s1", text: "" },
      { _tag: "input", sessionId: "s1", text: "x".repeat(Limits.inputBytes + 1) },
      { _tag: "create", title: "a\nb" },
      { _tag: "create", command: "x".repeat(Limits.commandChars + 1) },
      { _tag: "output", sessionId: "s1", lines: Limits.outputLines + 1 }
    ]) {
      expect({ bad: bad._tag, decoded: Either.isLeft(decodeRequest(request(bad))) }).toEqual({ bad: bad._tag, decoded: true })
    }
  })
})
