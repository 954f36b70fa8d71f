/** tmux key names as `termfleet send --keys` types them. */
import { Either } from "effect"
import { describe, expect, it } from "vitest"
import { keyBytes } from "../../src/cli/Keys.js"

describe("keyBytes", () => {
  it.each([
    ["C-c", "\u0003"],
    ["C-a", "\u0001"],
    ["C-[", "\u001b"],
    ["C-?", "\u007f"],
    ["C-Space", "\u0000"],
    ["M-x", "\u001bx"],
    ["M-Up", "\u001b\u001b[A"],
    ["Enter", "\r"],
    ["Escape", "\u001b"],
    ["Tab", "\t"],
    ["BSpace", "\u007f"],
    ["Up", "\u001b[A"],
    ["Left", "\u001b[D"],
    ["PageDown", "\u001b[6~"],
    ["F1", "\u001bOP"],
    ["F12", "\u001b[24~"],
    ["q", "q"],
    [":", ":"],
    ["é", "é"]
  ])("%s", (name, bytes) => {
    expect(keyBytes(name)).toEqual(Either.right(bytes))
  })

  it.each([["Foo"], ["C-"], ["C-ab"], ["F13"], [""]])("refuses '%s'", (name) => {
    expect(Either.isLeft(keyBytes(name))).toBe(true)
  })
})
