/**
 * `termfleet hooks install` against a temporary home: it adds termfleet's
 * hooks next to the user's own, says what it changed, changes nothing when
 * run again, and `--uninstall` leaves the files as they were.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { termfleetWith } from "../support/Agents.js"
import { MAIN } from "../support/DaemonProcess.js"
import { tempDir } from "../support/TempDir.js"

const userSettings = {
  model: "opus",
  permissions: { allow: ["Bash(npm test:*)"] },
  hooks: { PreToolUse: [{ matcher: "Edit", hooks: [{ type: "command", command: "my-linter --check" }] }] }
}
const userToml = `model = "gpt-5-codex"\napproval_policy = "on-request"\n\n[mcp_servers.docs]\ncommand = "docs-mcp"\n`
const ourCommand = `${process.execPath} ${MAIN} hook claude`

const install = (home: string, ...flags: ReadonlyArray<string>) => termfleetWith({ HOME: home }, ["hooks", "install", ...flags])
const read = (path: string) => readFileSync(path, "utf8")

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
      expect(toml.split("\n")[0]).toBe(`notify = ${JSON.stringify([process.execPath, MAIN, "hook", "codex"]).replaceAll(",", ", ")} # termfleet hooks install`)
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
