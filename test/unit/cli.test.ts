/** Flags and env vars of `termfleet daemon`. */
import { describe, expect, it } from "vitest"
import { Either, Option } from "effect"
import { parseDaemonArgs } from "../../src/config/DaemonArgs.js"
import { originAllowed } from "../../src/server/Origin.js"

describe("parseDaemonArgs", () => {
  it("defaults to local-only on loopback port 7420", () => {
    const { settings } = Either.getOrThrow(parseDaemonArgs([], {}))
    expect(settings.host).toBe("127.0.0.1")
    expect(settings.port).toBe(7420)
    expect(settings.prefix).toBe("termfleet:")
    expect(Option.isNone(settings.redisUrl)).toBe(true)
  })

  it("reads env vars, and flags win over them", () => {
    const env = { TERMFLEET_COMPUTER: "laptop", TERMFLEET_PORT: "7500", TERMFLEET_REDIS_URL: "redis://nas:6379" }
    const { settings } = Either.getOrThrow(parseDaemonArgs(["--port", "7600", "--projects", "/a:/b"], env))
    expect(settings.computer).toBe("laptop")
    expect(settings.port).toBe(7600)
    expect(settings.redisUrl).toEqual(Option.some("redis://nas:6379"))
    expect(settings.projects).toEqual(["/a", "/b"])
  })

  it("takes --notify-url, or TERMFLEET_NOTIFY_URL", () => {
    expect(Either.getOrThrow(parseDaemonArgs([], {})).settings.notifyUrl).toEqual(Option.none())
    const fromEnv = parseDaemonArgs([], { TERMFLEET_NOTIFY_URL: "https://ntfy.sh/my-agents" })
    expect(Either.getOrThrow(fromEnv).settings.notifyUrl).toEqual(Option.some("https://ntfy.sh/my-agents"))
  })

  it.each([
    [["--port", "99999"], "--port"],
    [["--port", "http"], "--port"],
    [["--computer", "-rf"], "--computer"],
    [["--computer", "a b"], "--computer"],
    [["--redis", "http://x"], "--redis"],
    [["--prefix", "a b"], "--prefix"],
    [["--bogus"], "bogus"],
    [["--token", "short"], "--token"],
    [["--fleet-secret", "short"], "--fleet-secret"],
    [["--notify-url", "ftp://example.com"], "--notify-url"]
  ])("refuses %j with a message naming the flag", (argv, flag) => {
    const result = parseDaemonArgs(argv, {})
    expect(Either.isLeft(result) && result.left).toContain(flag)
  })
})

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
