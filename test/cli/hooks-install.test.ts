/**
 * `termfleet hooks install` against a temporary home: it adds termfleet's
 * hooks next to the user's own, says what it changed, changes nothing when
 * run again, and `--uninstall` leaves the files as they were.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { execFile } from "node:child_process"
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { termfleetWith } from "../support/Agents.js"
import { cleanEnv, MAIN } from "../support/DaemonProcess.js"
import { tempDir } from "../support/TempDir.js"

const userSettings = {
  model: "opus",
  permissions: { allow: ["Bash(npm test:*)"] },
  hooks: { PreToolUse: [{ matcher: "Edit", hooks: [{ type: "command", command: "my-linter --check" }] }] }
}
const userToml = `model = "gpt-5-codex"\napproval_policy = "on-request"\n\n[mcp_servers.docs]\ncommand = "docs-mcp"\n`
// The light hook command beside main.js (dist/hook.js).
const HOOK = join(dirname(MAIN), "hook.js")
const ourCommand = `${process.execPath} ${HOOK} claude`

const install = (home: string, ...flags: ReadonlyArray<string>) => termfleetWith({ HOME: home }, ["hooks", "install", ...flags])
const read = (path: string) => readFileSync(path, "utf8")

/** A hook's command line through the shell, as Claude Code runs it, outside any tmux pane or termfleet session. */
const run = (command: string) =>
  new Promise<{ code: number | string | null | undefined; stdout: string; stderr: string }>((resolve) => {
    const { TMUX: _, TMUX_PANE: __, ...env } = cleanEnv()
    const child = execFile("sh", ["-c", command], { env, timeout: 15_000 }, (error, stdout, stderr) =>
      resolve({ code: error === null ? 0 : error.code, stdout, stderr }))
    child.stdin?.end("{}")
  })

describe("termfleet hooks install", () => {
  it.scopedLive("adds its hooks beside the user's, idempotent, and uninstalls back to what was there", () =>
    Effect.gen(function*() {
      const home = yield* tempDir("tf-home")
      const settingsFile = join(home, ".claude", "settings.json")
      const configFile = join(home, ".codex", "config.toml")
      mkdirSync(join(home, ".claude"))
      mkdirSync(join(home, ".codex"))
      writeFileSync(settingsFile, JSON.stringify(userSettings, null, 2))
      writeFileSync(configFile, userToml)

      const first = yield* install(home)
      expect(first.code).toBe(0)
      expect(first.stdout).toContain(`${settingsFile}:\n`)
      expect(first.stdout).toContain(`+ hooks.PermissionRequest: ${JSON.stringify(ourCommand)}`)
      expect(first.stdout).toContain(`${configFile}:\n  + notify = [`)

      const settings = JSON.parse(read(settingsFile))
      expect(settings.model).toBe("opus")
      expect(settings.permissions).toEqual(userSettings.permissions)
      expect(settings.hooks.PreToolUse).toEqual([
        userSettings.hooks.PreToolUse[0],
        { matcher: "*", hooks: [{ type: "command", command: ourCommand, timeout: 5 }] }
      ])
      expect(Object.keys(settings.hooks).sort()).toEqual(
        ["Notification", "PermissionRequest", "PostToolUse", "PreToolUse", "SessionEnd", "Stop", "UserPromptSubmit"]
      )
      const toml = read(configFile)
      // Top level, before any table, as Codex reads it; the rest untouched.
      expect(toml.split("\n")[0]).toBe(`notify = ${JSON.stringify([process.execPath, HOOK, "codex"]).replaceAll(",", ", ")} # termfleet hooks install`)
      expect(toml.endsWith(userToml)).toBe(true)

      const again = yield* install(home)
      expect(again.stdout).toBe(`${settingsFile}: unchanged\n${configFile}: unchanged\n`)
      expect(JSON.parse(read(settingsFile))).toEqual(settings)
      expect(read(configFile)).toBe(toml)

      const removed = yield* install(home, "--uninstall")
      expect(removed.code).toBe(0)
      expect(removed.stdout).toContain(`- hooks.Stop: ${JSON.stringify(ourCommand)}`)
      expect(JSON.parse(read(settingsFile))).toEqual(userSettings)
      expect(read(configFile)).toBe(userToml)
    }))

  it.scopedLive("into an empty home it creates the files; uninstalling removes them; one agent at a time", () =>
    Effect.gen(function*() {
      const home = yield* tempDir("tf-home")
      const settingsFile = join(home, ".claude", "settings.json")
      const configFile = join(home, ".codex", "config.toml")
      expect((yield* install(home, "--agent", "claude")).code).toBe(0)
      expect(existsSync(settingsFile)).toBe(true)
      expect(existsSync(configFile)).toBe(false)
      expect((yield* install(home, "--agent", "codex")).code).toBe(0)
      expect((yield* install(home, "--uninstall")).code).toBe(0)
      expect(existsSync(settingsFile)).toBe(false)
      expect(existsSync(configFile)).toBe(false)
    }))

  it.scopedLive("replaces the hooks an older termfleet installed (`main.js hook claude`), and they run", () =>
    Effect.gen(function*() {
      const home = yield* tempDir("tf-home")
      const settingsFile = join(home, ".claude", "settings.json")
      mkdirSync(join(home, ".claude"))
      const older = `${process.execPath} ${MAIN} hook claude`
      writeFileSync(settingsFile, JSON.stringify({ hooks: { Stop: [{ hooks: [{ type: "command", command: older, timeout: 5 }] }] } }))
      const upgraded = yield* install(home, "--agent", "claude")
      expect(upgraded.stdout).toContain(`- hooks.Stop: ${JSON.stringify(older)}\n  + hooks.Stop: ${JSON.stringify(ourCommand)}`)
      expect(JSON.parse(read(settingsFile)).hooks.Stop).toEqual([{ hooks: [{ type: "command", command: ourCommand, timeout: 5 }] }])
      // Both commands run, and do nothing outside a termfleet session.
      for (const command of [older, ourCommand]) {
        expect(yield* Effect.promise(() => run(command))).toEqual({ code: 0, stdout: "", stderr: "" })
      }
    }))

  it.scopedLive("refuses to replace someone else's Codex notify, and settings that are not JSON; usage errors exit 2", () =>
    Effect.gen(function*() {
      const home = yield* tempDir("tf-home")
      mkdirSync(join(home, ".codex"))
      mkdirSync(join(home, ".claude"))
      const theirs = `notify = ["python3", "/home/me/notify.py"]\n`
      writeFileSync(join(home, ".codex", "config.toml"), theirs)
      writeFileSync(join(home, ".claude", "settings.json"), "{ oops")
      const refused = yield* install(home)
      expect(refused.code).toBe(1)
      expect(refused.stderr).toContain("Codex runs one notify program")
      expect(refused.stderr).toContain("not valid JSON")
      expect(read(join(home, ".codex", "config.toml"))).toBe(theirs)
      expect(read(join(home, ".claude", "settings.json"))).toBe("{ oops")
      expect((yield* install(home, "--agent", "gemini")).code).toBe(2)
      expect((yield* termfleetWith({ HOME: home }, ["hooks", "remove"])).code).toBe(2)
    }))
})
