/**
 * The built daemon keeps its token in its state folder, readable by its user
 * only, and refuses to join a fleet without a fleet secret. Runs
 * `node dist/main.js daemon` (built by `make test`; fails clearly if missing).
 */
import { beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs"
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

  it.scopedLive("a state folder open to others (0755, token and fleet secret 0644) is tightened to 0700 and 0600, and the log says so", () =>
    Effect.gen(function*() {
      const stateDir = join(yield* tempDir("tf-state"), "state")
      mkdirSync(stateDir, { mode: 0o755 })
      const token = "loose-token-0123456789abcdef"
      writeFileSync(join(stateDir, "token"), `${token}\n`, { mode: 0o644 })
      writeFileSync(join(stateDir, "fleet-secret"), "loose-secret-0123456789abcdef\n", { mode: 0o644 })
      chmodSync(stateDir, 0o755) // whatever the umask
      const tmuxSocket = yield* privateTmux
      const daemon = yield* startDaemonProcess(
        ["--port", "0", "--state-dir", stateDir, "--tmux-socket", tmuxSocket, "--computer", "sec"],
        { tmuxSocket }
      )
      expect(mode(stateDir).toString(8)).toBe("700")
      expect(mode(join(stateDir, "token")).toString(8)).toBe("600")
      expect(mode(join(stateDir, "fleet-secret")).toString(8)).toBe("600")
      const log = daemon.stdout() + daemon.stderr()
      expect(log).toMatch(/tightened/)
      expect(log).toContain(`${stateDir} 0755 → 0700`)
      expect(log).toContain(`${join(stateDir, "token")} 0644 → 0600`)
      // Its token is still the one in the file.
      expect(daemon.token).toBe(token)
      yield* daemon.stop

      // A tight folder is left alone, silently.
      const again = yield* startDaemonProcess(
        ["--port", "0", "--state-dir", stateDir, "--tmux-socket", tmuxSocket, "--computer", "sec"],
        { tmuxSocket }
      )
      expect(again.stdout() + again.stderr()).not.toMatch(/tightened/)
    }))

  // Only root can give a folder to another user.
  it.scopedLive.runIf(process.getuid?.() === 0)("a state folder of another user is refused: exit 2 and a message", () =>
    Effect.gen(function*() {
      const stateDir = join(yield* tempDir("tf-state"), "state")
      mkdirSync(stateDir, { mode: 0o700 })
      chownSync(stateDir, 65534, 65534)
      const refused = yield* runBinary(["daemon", "--port", "0", "--state-dir", stateDir, "--tmux-socket", yield* privateTmux, "--computer", "sec"])
      expect({ code: refused.code, stdout: refused.stdout }).toEqual({ code: 2, stdout: "" })
      expect(refused.stderr).toContain(`${stateDir} belongs to user 65534`)
      expect(existsSync(join(stateDir, "token"))).toBe(false)
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
