/** The dashboard's terminal shows a snapshot in order with the output before it (xterm parses writes later). */
import xtermHeadless from "@xterm/headless"
import { describe, expect, it } from "vitest"
import { showSnapshot } from "../../src/dashboard/Snapshot.js"

const lines = (term: InstanceType<typeof xtermHeadless.Terminal>) => {
  const buffer = term.buffer.active
  return Array.from({ length: buffer.length }, (_, i) => buffer.getLine(i)?.translateToString(true) ?? "").filter((l) => l !== "")
}

describe("a terminal snapshot in the dashboard", () => {
  it("replaces what the terminal showed, also output it had not parsed yet when the snapshot came", async () => {
    const term = new xtermHeadless.Terminal({ cols: 20, rows: 5, scrollback: 100, allowProposedApi: true })
    // Output of the old connection, still waiting to be parsed as the snapshot arrives.
    term.write("old line\r\n".repeat(30))
    await new Promise<void>((shown) => showSnapshot(term, 30, 6, "fresh screen\r\n$", shown))
    expect({ cols: term.cols, rows: term.rows }).toEqual({ cols: 30, rows: 6 })
    expect(lines(term)).toEqual(["fresh screen", "$"])
    term.dispose()
  })

  it("keeps the output that follows it", async () => {
    const term = new xtermHeadless.Terminal({ cols: 20, rows: 5, allowProposedApi: true })
    const shown = new Promise<void>((resolve) => showSnapshot(term, 20, 5, "snap\r\n", resolve))
    term.write("after\r\n")
    await shown
    await new Promise<void>((parsed) => term.write("", parsed))
    expect(lines(term)).toEqual(["snap", "after"])
    term.dispose()
  })
})
