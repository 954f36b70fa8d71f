/** Which token the command-line client sends, and where. */
import { NodeFileSystem } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Effect, Option, Redacted } from "effect"
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { findToken } from "../../src/cli/FleetClient.js"
import { isLoopbackUrl } from "../../src/config/Locations.js"
import { tempDir } from "../support/TempDir.js"

const tokenFor = (env: Readonly<Record<string, string>>, url: string) =>
  findToken(url).pipe(
    Effect.map(Option.map(Redacted.value)),
    Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env)))),
    Effect.provide(NodeFileSystem.layer)
  )

describe("the client's token", () => {
  it("names this computer only for loopback URLs", () => {
    expect(["http://127.0.0.1:7420", "http://localhost:7420", "http://[::1]:7420", "http://127.3.2.1"].map(isLoopbackUrl))
      .toEqual([true, true, true, true])
    expect(["http://server:7420", "http://10.0.0.2:7420", "http://127.0.0.1.evil.example", "not a url"].map(isLoopbackUrl))
      .toEqual([false, false, false, false])
  })

  it.scoped("the state folder's token goes to this computer's daemon only; TERMFLEET_TOKEN(_FILE) goes wherever it is told", () =>
    Effect.gen(function*() {
      const stateDir = yield* tempDir("tf-client")
      writeFileSync(join(stateDir, "token"), "local-token-0123456789abcdef\n", { mode: 0o600 })
      const env = { TERMFLEET_STATE_DIR: stateDir }
      expect(yield* tokenFor(env, "http://127.0.0.1:7420")).toEqual(Option.some("local-token-0123456789abcdef"))
      expect(yield* tokenFor(env, "http://server:7420")).toEqual(Option.none())
      const told = { ...env, TERMFLEET_TOKEN: "server-token-0123456789abcdef" }
      expect(yield* tokenFor(told, "http://server:7420")).toEqual(Option.some("server-token-0123456789abcdef"))
      const tokenFile = join(stateDir, "server-token")
      writeFileSync(tokenFile, "file-token-0123456789abcdef\n", { mode: 0o600 })
      expect(yield* tokenFor({ ...env, TERMFLEET_TOKEN_FILE: tokenFile }, "http://server:7420"))
        .toEqual(Option.some("file-token-0123456789abcdef"))
    }))
})
