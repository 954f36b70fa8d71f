/** Which origins may write to the daemon. */
import { describe, expect, it } from "vitest"
import { originAllowed } from "../../src/server/Origin.js"

describe("originAllowed", () => {
  it("lets non-browser clients (no Origin) and same-origin pages in", () => {
    expect(originAllowed(undefined, "127.0.0.1:7420")).toBe(true)
    expect(originAllowed("http://127.0.0.1:7420", "127.0.0.1:7420")).toBe(true)
  })

  it("refuses other origins and garbage", () => {
    expect(originAllowed("https://evil.example", "127.0.0.1:7420")).toBe(false)
    expect(originAllowed("http://127.0.0.1:7421", "127.0.0.1:7420")).toBe(false)
    expect(originAllowed("null", "127.0.0.1:7420")).toBe(false)
    expect(originAllowed("http://127.0.0.1:7420", undefined)).toBe(false)
  })
})
