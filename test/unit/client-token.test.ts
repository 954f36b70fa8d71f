/** Which token the command-line client sends, and where. */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { findToken, isLoopbackUrl } from "../../src/cli/FleetClient.js"

describe("the client's token", () => {
  it("names this computer only for loopback URLs", () => {
    expect(["http://127.0.0.1:7420", "http://localhost:7420", "http://[::1]:7420", "http://127.3.2.1"].map(isLoopbackUrl))
      .toEqual([true, true, true, true])
    expect(["http://server:7420", "http://10.0.0.2:7420", "http://127.0.0.1.evil.example", "not a url"].map(isLoopbackUrl))
      .toEqual([false, false, false, false])
  })

  it.effect("the state folder's token goes to this computer's daemon only; TERMFLEET_TOKEN goes wherever it is told", () =>
    Effect.gen(function*() {
      const stateDir = mkdtempSync(join(tmpdir(), "tf-client-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(stateDir, { recursive: true, force: true })))
      writeFileSync(join(stateDir, "token"), "local-token-0123456789abcdef\n", { mode: 0o600 })
      const env = { TERMFLEET_STATE_DIR: stateDir }
      expect(yield* findToken(env, "http://127.0.0.1:7420")).toEqual(Option.some("local-token-0123456789abcdef"))
      expect(yield* findToken(env, "http://server:7420")).toEqual(Option.none())
      const told = { ...env, TERMFLEET_TOKEN: "server-token-0123456789abcdef" }
      expect(yield* findToken(told, "http://server:7420")).toEqual(Option.some("server-token-0123456789abcdef"))
    }).pipe(Effect.scoped))
})
