/** tmux control mode, decoded: escapes, notifications, blocks, layouts, and the commands written back. */
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import {
  ControlReader,
  layoutPanes,
  type Notification,
  OutputBatch,
  parseNotification,
  quote,
  sendBytesCommands,
  unescapeOutput
} from "../../src/local/ControlMode.js"

/** What tmux writes for pane output: bytes below ' ' and '\' as octal. */
const escapeAsTmux = (bytes: Uint8Array): Buffer =>
  Buffer.from([...bytes].flatMap((b) => (b < 0x20 || b === 0x5c ? [...Buffer.from(`\\${b.toString(8).padStart(3, "0")}`)] : [b])))

const line = (text: string) => Buffer.from(text, "utf8")

describe("unescapeOutput", () => {
  it("gives back the bytes tmux escaped, whatever they were", () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
      const escaped = Buffer.concat([line("%output %1 "), escapeAsTmux(bytes)])
      expect([...unescapeOutput(escaped, 11)]).toEqual([...bytes])
    }))
  })

  it("keeps a backslash that starts no escape", () => {
    expect(unescapeOutput(line("a\\9b\\01"), 0).toString("latin1")).toBe("a\\9b\\01")
  })
})

describe("parseNotification", () => {
  it("%output and %extended-output: the pane and its bytes, UTF-8 left as it came", () => {
    expect(parseNotification(line("%output %3 h\u00e9\\015\\012\\134"))).toEqual({
      _tag: "Output",
      pane: "%3",
      data: Buffer.from("h\u00e9\r\n\\", "utf8")
    })
    expect(parseNotification(line("%extended-output %12 250 future : x : y"))).toEqual({
      _tag: "Output",
      pane: "%12",
      data: Buffer.from("x : y")
    })
    // Half a character at the end of a line is kept as bytes; the next line has the rest.
    const split = Buffer.concat([line("%output %1 "), Buffer.from([0xe2, 0x9c])])
    expect(parseNotification(split)).toMatchObject({ _tag: "Output", data: Buffer.from([0xe2, 0x9c]) })
  })

  it("the notifications the daemon acts on", () => {
    expect(parseNotification(line("%pause %4"))).toEqual({ _tag: "Pause", pane: "%4" })
    expect(parseNotification(line("%continue %4"))).toEqual({ _tag: "Continue", pane: "%4" })
    expect(parseNotification(line("%sessions-changed"))).toEqual({ _tag: "SessionsChanged" })
    expect(parseNotification(line("%session-renamed $0 new name"))).toEqual({ _tag: "SessionRenamed" })
    expect(parseNotification(line("%window-add @2"))).toEqual({ _tag: "WindowsChanged" })
    expect(parseNotification(line("%window-close @2"))).toEqual({ _tag: "WindowsChanged" })
    expect(parseNotification(line("%subscription-changed dead $0 - - - : 1"))).toEqual({
      _tag: "SubscriptionChanged",
      name: "dead",
      value: "1"
    })
    expect(parseNotification(line("%exit"))).toEqual({ _tag: "Exit", reason: "" })
    expect(parseNotification(line("%exit too far behind"))).toEqual({ _tag: "Exit", reason: "too far behind" })
    expect(parseNotification(line("%layout-change @0 a87d,100x30,0,0,0 a87d,100x30,0,0,0 *"))).toEqual({
      _tag: "LayoutChange",
      window: "@0",
      panes: [{ pane: "%0", cols: 100, rows: 30 }]
    })
  })

  it("anything else, or damaged, is Other", () => {
    expect(parseNotification(line("%window-pane-changed @0 %1"))).toEqual({ _tag: "Other", name: "%window-pane-changed" })
    expect(parseNotification(line("%output nopane data"))._tag).toBe("Other")
    expect(parseNotification(line("%pause"))._tag).toBe("Other")
    expect(parseNotification(line("%extended-output %1 12"))._tag).toBe("Other")
    expect(parseNotification(line(""))._tag).toBe("Other")
  })
})

describe("layoutPanes", () => {
  it("finds every pane of a split layout with its size", () => {
    expect(layoutPanes("b25f,80x24,0,0{40x24,0,0,1,39x24,41,0[39x12,41,0,2,39x11,41,13,3]}")).toEqual([
      { pane: "%1", cols: 40, rows: 24 },
      { pane: "%2", cols: 39, rows: 12 },
      { pane: "%3", cols: 39, rows: 11 }
    ])
  })
})

describe("ControlReader", () => {
  it("tells blocks from notifications; lines inside a block are its body, even if they start with %", () => {
    const reader = new ControlReader()
    const read = (text: string) => reader.read(line(text))
    expect(read("%begin 1795703603 263 0")).toEqual({ _tag: "Begin", number: 263, mine: false })
    expect(read("%end 1795703603 263 0")).toEqual({ _tag: "End", number: 263, mine: false, failed: false })
    expect(read("%session-changed $0 one")).toEqual({ _tag: "Other", name: "%session-changed" })
    expect(read("%begin 1795703603 268 1")).toEqual({ _tag: "Begin", number: 268, mine: true })
    expect(read("%output %1 not a notification")).toEqual({ _tag: "Body", line: "%output %1 not a notification" })
    expect(read("%error 1795703603 268 1")).toEqual({ _tag: "End", number: 268, mine: true, failed: true })
    expect(read("%output %1 x")).toMatchObject({ _tag: "Output", pane: "%1" })
  })
})

describe("OutputBatch", () => {
  it("a pane's output lines in a row come out as one buffer of their bytes; another pane's line starts another", () => {
    fc.assert(fc.property(
      fc.array(fc.record({ pane: fc.constantFrom("%1", "%2"), bytes: fc.uint8Array({ maxLength: 100 }) }), { maxLength: 30 }),
      (outputs) => {
        const read = Buffer.concat(outputs.map(({ bytes, pane }) => Buffer.concat([line(`%output ${pane} `), escapeAsTmux(bytes), line("\n")])))
        const reader = new ControlReader()
        const batch = new OutputBatch()
        const out: Array<Notification> = []
        const take = () => {
          const taken = batch.take()
          if (taken !== undefined) out.push(taken)
        }
        let start = 0
        for (let newline = read.indexOf(10); newline !== -1; newline = read.indexOf(10, start)) {
          const text = read.subarray(start, newline)
          const output = reader.output(text)!
          if (!batch.add(output.pane, text, output.start, read.length - start)) {
            take()
            batch.add(output.pane, text, output.start, read.length - start)
          }
          start = newline + 1
        }
        take()
        // The expected batches: consecutive outputs of one pane, joined.
        const expected: Array<{ pane: string; data: Array<number> }> = []
        for (const { bytes, pane } of outputs) {
          const last = expected[expected.length - 1]
          if (last?.pane === pane) last.data.push(...bytes)
          else expected.push({ pane, data: [...bytes] })
        }
        expect(out.map((n) => n._tag === "Output" && { pane: n.pane, data: [...n.data] })).toEqual(expected)
      }
    ))
  })

  it("output lines inside a command's block are its body, not output", () => {
    const reader = new ControlReader()
    reader.read(line("%begin 1795703603 268 1"))
    expect(reader.output(line("%output %1 x"))).toBeUndefined()
    reader.read(line("%end 1795703603 268 1"))
    expect(reader.output(line("%extended-output %1 20 : x"))).toEqual({ pane: "%1", start: 25 })
  })
})

describe("commands written to tmux", () => {
  it("quote: single quotes, with a quote inside closed and reopened", () => {
    expect(quote("#{pane_dead}")).toBe("'#{pane_dead}'")
    expect(quote("a'b")).toBe("'a'\\''b'")
  })

  it("sendBytesCommands: bytes as hex, in order, in bounded commands", () => {
    expect(sendBytesCommands("%1", Buffer.from("\u001b[A\u0003"))).toEqual(["send-keys -t '%1' -H 1b 5b 41 03"])
    expect(sendBytesCommands("$2", Buffer.from("x"))).toEqual(["send-keys -t '$2' -H 78"])
    const bytes = Buffer.from(Array.from({ length: 5000 }, (_, i) => i % 256))
    const commands = sendBytesCommands("%1", bytes, 2048)
    expect(commands).toHaveLength(3)
    const back = Buffer.from(commands.map((c) => c.split(" -H ")[1]!.replaceAll(" ", "")).join(""), "hex")
    expect(back.equals(bytes)).toBe(true)
  })
})
