/**
 * The built daemon keeps its token in its state folder, readable by its user
 * only, and refuses to join a fleet without a fleet secret. Runs
 * `node dist/main.js daemon` (built by `make test`; fails clearly if missing).
 */
import { beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { existsSync, readFileSync, statSync } from "node:fs"
import { join } from "node:path"
import { cleanEnv, requireBuild, runBinary, startDaemonProcess } from "../support/DaemonProcess.js"
import { raw } from "../support/RawHttp.js"
import { tempDir } from "../support/TempDir.js"
import { privateTmux } from "../support/TmuxServer.js"

beforeAll(requireBuild)


const mode = (path: string) => statSync(path).mode & 0o777

describe("state folder", () => {
  it.scopedLive("first start writes <state>/token (0600) in a new 0700 folder and prints it in the dashboard URL; a restart reuses it", () =>
    Effect.gen(function*() {
      const stateDir = join(yield* tempDir("tf-state"), "state")
      const tmuxSocket = yield* privateTmux
      const args = ["--port", "0", "--state-dir", stateDir, "--tmux-socket", tmuxSocket, "--computer", "sec"]

      const first = yield* startDaemonProcess(args, { tmuxSocket })
      const tokenPath = join(stateDir, "token")
      expect(existsSync(tokenPath)).toBe(true)
      expect(mode(stateDir).toString(8)).toBe("700")
      expect(mode(tokenPath).toString(8)).toBe("600")
      const token = readFileSync(tokenPath, "utf8").trim()
      expect(token.length).toBeGreaterThanOrEqual(16)
      expect(first.dashboardUrl).toBe(`${first.base}/?token=${encodeURIComponent(token)}`)
      expect(first.base).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)

      // The printed token is the one the daemon checks.
      const health = yield* raw(`${first.base}/health`, { headers: { authorization: `Bearer ${token}` } })
      expect(health.status).toBe(200)
      expect(health.json).toMatchObject({ computer: "sec", redis: "local-only" })
      expect((yield* raw(`${first.base}/health`)).status).toBe(401)
      yield* first.stop

      const second = yield* startDaemonProcess(args, { tmuxSocket })
      expect(second.token).toBe(token)
      expect(readFileSync(tokenPath, "utf8").trim()).toBe(token)
      expect(mode(tokenPath).toString(8)).toBe("600")
      expect((yield* raw(`${second.base}/health`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200)
    }))

  it.scopedLive("--redis without a fleet secret exits 2 with a message naming the fleet secret", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("tf-state")
      const tmuxSocket = yield* privateTmux
      // Each its own state folder: they run at once.
      const base = (name: string) =>
        ["daemon", "--port", "0", "--state-dir", join(dir, name), "--tmux-socket", tmuxSocket, "--computer", "sec"]
      const [byFlag, byEnv, short] = yield* Effect.all([
        runBinary([...base("flag"), "--redis", "redis://127.0.0.1:1"]),
        runBinary(base("env"), cleanEnv({ TERMFLEET_REDIS_URL: "redis://127.0.0.1:1" })),
        // A guessable secret is refused too.
        runBinary([...base("short"), "--redis", "redis://127.0.0.1:1", "--fleet-secret", "short"])
      ], { concurrency: "unbounded" })
      expect({ code: byFlag.code, stdout: byFlag.stdout }).toEqual({ code: 2, stdout: "" })
      expect(byFlag.stderr).toMatch(/fleet.*secret/i)
      expect(byFlag.stderr).toContain("--fleet-secret")

      expect(byEnv.code).toBe(2)
      expect(byEnv.stderr).toMatch(/fleet.*secret/i)

      expect(short.code).toBe(2)
      expect(short.stderr).toMatch(/--fleet-secret/)
    }))
})
