/** A watched pane's terminal state: snapshots at a position, the bytes after it, resuming, bounds; and the replay built from tmux. */
import { Either } from "effect"
import xtermHeadless from "@xterm/headless"
import { describe, expect, it, vi } from "vitest"
import { parsePaneInfo, replayOf } from "../../src/terminal/PaneScreen.js"
import { Limits } from "../../src/domain/Limits.js"
import { PaneTerminal, type ViewerSink } from "../../src/terminal/PaneTerminal.js"

interface Recorded {
  readonly sink: ViewerSink
  readonly frames: Array<{ kind: string; position?: string; data?: string; size?: string }>
}

const recorder = (): Recorded => {
  const frames: Recorded["frames"] = []
  return {
    frames,
    sink: {
      snapshot: (position, cols, rows, data) => frames.push({ kind: "snapshot", position, data, size: `${cols}x${rows}` }),
      output: (position, data, base64) => {
        expect(Buffer.from(base64(), "base64").equals(data)).toBe(true)
        frames.push({ kind: "output", position, data: data.toString("latin1") })
      },
      resized: (cols, rows) => frames.push({ kind: `resized ${cols}x${rows}` })
    }
  }
}

/** Lets the terminal parse what it was fed and send what is pending. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 5))

/** Waits, turn by turn, until the terminal has done what `done` looks for (a loaded machine parses slowly). */
const until = async (what: string, done: () => boolean) => {
  for (let turns = 0; !done(); turns++) {
    if (turns > 2000) throw new Error(`never: ${what}`)
    await settle()
  }
}

const screenOf = async (replay: string, cols = 20, rows = 5) => {
  const term = new xtermHeadless.Terminal({ cols, rows, allowProposedApi: true })
  await new Promise<void>((resolve) => term.write(replay, resolve))
  const buffer = term.buffer.active
  return Array.from({ length: rows }, (_, i) => buffer.getLine(buffer.viewportY + i)?.translateToString(true) ?? "")
}

describe("PaneTerminal", () => {
  it("a relaying mirror parses nothing: a viewer gets the owner's snapshot, asked for once output came after the last", async () => {
    let asks = 0
    const pane = new PaneTerminal(7, 20, 5, "the owner's screen", () => {}, 1000, () => asks++)
    const first = recorder()
    pane.addViewer(first.sink)
    // The owner's snapshot where the mirror is: given at once, no ask.
    expect(first.frames).toEqual([{ kind: "snapshot", position: "7-1000", data: "the owner's screen", size: "20x5" }])
    expect(asks).toBe(0)
    pane.feed(Buffer.from("one\r\n"))
    await until("the output", () => first.frames.at(-1)?.position === "7-1005")

    // Output came after it: a second viewer waits for a fresh one from the owner, at the mirror's position.
    const second = recorder()
    pane.addViewer(second.sink)
    expect(asks).toBe(1)
    expect(pane.asking).toBe(true)
    expect(second.frames).toEqual([])
    pane.ownersSnapshot("7-1000", 20, 5, "stale")
    expect(second.frames).toEqual([])
    pane.ownersSnapshot("7-1005", 20, 5, "the owner's screen, one")
    expect(pane.asking).toBe(false)
    pane.feed(Buffer.from("two\r\n"))
    await until("the rest", () => second.frames.at(-1)?.position === "7-1010")
    expect(second.frames.map((f) => `${f.kind} ${f.position} ${f.data}`)).toEqual([
      "snapshot 7-1005 the owner's screen, one",
      "output 7-1010 two\r\n"
    ])
    expect(first.frames.map((f) => f.position)).toEqual(["7-1000", "7-1005", "7-1010"])
    expect(pane.usage.unparsed).toBe(0)
  })

  it("a mirror starts at a peer's position; a fresh snapshot for one viewer continues exactly where its output ended", async () => {
    const pane = new PaneTerminal(7, 20, 5, "from the peer\r\n", () => {}, 1000)
    expect(pane.position).toBe("7-1000")
    const viewer = recorder()
    pane.addViewer(viewer.sink, "7-1000")
    pane.feed(Buffer.from("one\r\n"))
    await until("the output", () => viewer.frames.at(-1)?.position === "7-1005")
    pane.feed(Buffer.from("two\r\n"))
    pane.resnapshot(viewer.sink)
    pane.feed(Buffer.from("three\r\n"))
    await until("the rest", () => viewer.frames.at(-1)?.position === "7-1017")
    // Resumed from the peer's position with no snapshot; the bytes before the new snapshot, the snapshot at their end, the bytes after it.
    expect(viewer.frames.map((f) => `${f.kind} ${f.position}`)).toEqual(["output 7-1005", "output 7-1010", "snapshot 7-1010", "output 7-1017"])
    expect(viewer.frames[2]!.data).toContain("two")
    expect(viewer.frames[3]!.data).toBe("three\r\n")
  })

  it("a viewer gets a snapshot at the current position, then every byte after it, in order", async () => {
    const pane = new PaneTerminal(100, 20, 5, "", () => {})
    pane.feed(Buffer.from("one\r\n"))
    const viewer = recorder()
    pane.addViewer(viewer.sink)
    pane.feed(Buffer.from("two\r\n"))
    await until("the snapshot", () => viewer.frames.length > 0)
    pane.feed(Buffer.from("thr"))
    pane.feed(Buffer.from("ee\r\n"))
    await until("all output", () => viewer.frames.at(-1)?.position === "100-17")
    expect(viewer.frames[0]).toMatchObject({ kind: "snapshot", position: "100-5" })
    expect(viewer.frames[0]!.data).toContain("one")
    expect(viewer.frames[0]!.data).not.toContain("two")
    const outputs = viewer.frames.slice(1)
    expect(outputs.every((f) => f.kind === "output")).toBe(true)
    expect(outputs.map((f) => f.data).join("")).toBe("two\r\nthree\r\n")
    expect(outputs.at(-1)?.position).toBe("100-17")
    expect(await screenOf(viewer.frames[0]!.data! + "two\r\nthree\r\n")).toEqual(["one", "two", "three", "", ""])
  })

  it("a viewer resuming from a held position of the same epoch gets exactly the bytes after it; others a snapshot", async () => {
    const pane = new PaneTerminal(7, 20, 5, "", () => {})
    pane.feed(Buffer.from("abc"))
    pane.feed(Buffer.from("def"))
    const resumed = recorder()
    pane.addViewer(resumed.sink, "7-2")
    const otherEpoch = recorder()
    pane.addViewer(otherEpoch.sink, "6-2")
    const ahead = recorder()
    pane.addViewer(ahead.sink, "7-99")
    await until("every viewer served", () => [resumed, otherEpoch, ahead].every((v) => v.frames.length > 0))
    await settle()
    expect(resumed.frames).toEqual([{ kind: "output", position: "7-6", data: "cdef" }])
    expect(otherEpoch.frames.map((f) => f.kind)).toEqual(["snapshot"])
    expect(ahead.frames.map((f) => f.kind)).toEqual(["snapshot"])
  })

  it("holds a bounded amount of output: a position older than what is held gets a snapshot", async () => {
    const pane = new PaneTerminal(1, 20, 5, "", () => {})
    const chunk = Buffer.alloc(64 * 1024, 0x41)
    for (let round = 0; round < 12; round++) {
      for (let i = 0; i < 8; i++) pane.feed(chunk)
      expect(pane.usage.held).toBeLessThanOrEqual(Limits.terminalHeldBytes)
      while (pane.usage.unparsed > 0) await settle()
    }
    const late = recorder()
    pane.addViewer(late.sink, "1-0")
    await until("the late viewer served", () => late.frames.length > 0)
    expect(late.frames[0]?.kind).toBe("snapshot")
    pane.dispose()
  })

  it("when parsing falls too far behind, viewers go on getting every byte; it asks once to be rebuilt when a snapshot is needed", async () => {
    let overflowed = 0
    const pane = new PaneTerminal(1, 20, 5, "", () => overflowed++)
    const viewer = recorder()
    pane.addViewer(viewer.sink)
    await until("the snapshot", () => viewer.frames.length > 0)
    // The parser (on timers) gets no turn; viewers are served (on setImmediate) after each block.
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] })
    try {
      const block = Buffer.alloc(1024 * 1024, 0x41)
      const blocks = Limits.terminalUnparsedBytes / block.length + 2
      for (let i = 0; i < blocks; i++) {
        pane.feed(Buffer.from(block))
        await new Promise((resolve) => setImmediate(resolve))
      }
      expect(pane.usage.unparsed).toBeGreaterThan(Limits.terminalUnparsedBytes)
      const outputs = viewer.frames.filter((f) => f.kind === "output")
      expect(outputs.reduce((n, f) => n + f.data!.length, 0)).toBe(blocks * block.length)
      expect(viewer.frames.at(-1)!.position).toBe(`1-${blocks * block.length}`)
      expect(overflowed).toBe(0)
      // A viewer that needs a snapshot: the state is rebuilt (once), and nothing more is taken meanwhile.
      pane.addViewer(recorder().sink)
      pane.resnapshot(viewer.sink)
      expect(overflowed).toBe(1)
      pane.feed(Buffer.from("more"))
      expect(pane.position).toBe(`1-${blocks * block.length}`)
    } finally {
      vi.useRealTimers()
      pane.dispose()
    }
  })

  it("when parsing fell behind, asks to be rebuilt once the pane is quiet", async () => {
    vi.useFakeTimers()
    try {
      let overflowed = 0
      const pane = new PaneTerminal(1, 20, 5, "", () => overflowed++)
      pane.feed(Buffer.alloc(Limits.terminalUnparsedBytes + 1, 0x41))
      vi.advanceTimersByTime(900)
      pane.feed(Buffer.from("still writing"))
      vi.advanceTimersByTime(900)
      expect(overflowed).toBe(0)
      vi.advanceTimersByTime(200)
      expect(overflowed).toBe(1)
      pane.dispose()
    } finally {
      vi.useRealTimers()
    }
  })

  it("a resize reaches each viewer in order with the output: after the bytes written before it, before those after", async () => {
    const pane = new PaneTerminal(1, 20, 5, "", () => {})
    const viewer = recorder()
    pane.addViewer(viewer.sink)
    await until("the snapshot", () => viewer.frames.length > 0)
    pane.feed(Buffer.from("before\r\n"))
    pane.resize(30, 6)
    pane.feed(Buffer.from("after\r\n"))
    await until("all output", () => viewer.frames.at(-1)?.position === "1-15")
    expect(viewer.frames.map((f) => `${f.kind} ${f.data ?? ""}`)).toEqual(["snapshot ", "output before\r\n", "resized 30x6 ", "output after\r\n"])
    expect(pane.size).toEqual({ cols: 30, rows: 6 })
  })

  it("a viewer waiting for its snapshot when the pane is resized gets the snapshot at the new size, and no resize", async () => {
    const pane = new PaneTerminal(1, 20, 5, "", () => {})
    pane.feed(Buffer.from("x".repeat(25)))
    const viewer = recorder()
    pane.addViewer(viewer.sink)
    pane.resize(30, 6)
    await until("the snapshot", () => viewer.frames.length > 0)
    await settle()
    expect(viewer.frames.map((f) => `${f.kind} ${f.size ?? ""}`)).toEqual(["snapshot 30x6"])
    expect((await screenOf(viewer.frames[0]!.data!, 30, 6)).join("")).toBe("x".repeat(25))
  })
})

describe("PaneScreen", () => {
  const info = (fields: Partial<Record<string, string>> = {}) =>
    Either.getOrThrow(parsePaneInfo(Object.values({
      pane: "%3", window: "@1", cols: "20", rows: "5", cursorX: "4", cursorY: "2", alternate: "0", cursorVisible: "1",
      applicationCursor: "0", applicationKeypad: "0", insert: "0", wrap: "1", scrollTop: "0", scrollBottom: "4", piped: "0",
      ...fields
    }).join("\t")))

  it("parsePaneInfo decodes tmux's answer, or says what is wrong", () => {
    expect(info()).toMatchObject({ pane: "%3", window: "@1", cols: 20, rows: 5, cursorX: 4, alternate: false, wrap: true })
    expect(Either.isLeft(parsePaneInfo("%3\t@1"))).toBe(true)
    expect(Either.isLeft(parsePaneInfo(["%3", "@1", "x", ...Array(12).fill("0")].join("\t")))).toBe(true)
  })

  it("replayOf rebuilds the screen, the cursor and the modes; the alternate screen over the normal one", async () => {
    const plain = replayOf(info(), ["\u001b[31mred\u001b[39m", "two", "", "", ""], undefined)
    expect(await screenOf(`${plain}X`)).toEqual(["red", "two", "    X", "", ""])
    const full = replayOf(
      info({ alternate: "1", applicationCursor: "1", cursorVisible: "0", cursorX: "0", cursorY: "0" }),
      ["normal", "", "", "", ""],
      ["vim", "~", "~", "", ""]
    )
    expect(await screenOf(full)).toEqual(["vim", "~", "~", "", ""])
    expect(full).toContain("\u001b[?1049h")
    expect(full).toContain("\u001b[?1h")
    expect(full).toContain("\u001b[?25l")
    // Leaving the full-screen program shows the normal screen again.
    expect(await screenOf(`${full}\u001b[?1049l`)).toEqual(["normal", "", "", "", ""])
  })
})
