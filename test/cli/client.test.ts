/**
 * The client commands in-process (`runClient`, output captured) against a
 * local-only test daemon with real tmux: what they print, `--json`, and
 * their exit codes.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import { shellCommand } from "../../src/cli/Args.js"
import { cli, cliWith } from "../support/Cli.js"
import { pollUntil } from "../support/Poll.js"
import { freePort } from "../support/RedisServer.js"
import { startDaemon } from "../support/TestDaemon.js"

const localDaemon = Effect.map(startDaemon("solo", Option.none()), (daemon) => daemon.httpUrl("").replace(/\/$/, ""))

describe("termfleet ls, new, send, output, end", () => {
  it.scopedLive("drive a session from start to end", () =>
    Effect.gen(function*() {
      const url = yield* localDaemon
      expect(yield* cli("ls", "--url", url)).toMatchObject({ code: 0, stdout: "no sessions\n" })

      const created = yield* cli("new", "--url", url, "--json", "--title", "cli agent", "--project", "/tmp", "--", "sh")
      expect(created.code).toBe(0)
      const session = JSON.parse(created.stdout)
      expect(session).toMatchObject({ computer: "solo", title: "cli agent", projectPath: "/tmp", command: "sh" })
      const id: string = session.sessionId

      const listed = yield* cli("ls", "--url", url, "--json")
      expect(JSON.parse(listed.stdout)).toEqual([expect.objectContaining({ sessionId: id, title: "cli agent" })])
      const table = (yield* cli("ls", "--url", url)).stdout.split("\n")
      expect(table[0]).toMatch(/^SESSION\s+COMPUTER\s+STATUS\s+AGENT\s+TITLE\s+PROJECT\s+ACTIVE\s+COMMAND$/)
      expect(table[1]).toMatch(new RegExp(`^${id}\\s+solo\\s+\\w+\\s+-\\s+cli agent\\s+/tmp\\s+.+\\s+sh$`))

      expect(yield* cli("send", "--url", url, id, "echo", "cli-$((6*7))")).toEqual({ code: 0, stdout: "", stderr: "" })
      const output = yield* pollUntil(cli("output", "--url", url, id), (ran) => ran.stdout.includes("cli-42"), "cli-42 in the output")
      expect(output.code).toBe(0)
      const json = JSON.parse((yield* cli("output", "--url", url, "--json", "--lines", "5", id)).stdout)
      expect(json).toMatchObject({ sessionId: id, computer: "solo" })

      expect(yield* cli("end", "--url", url, "--json", id)).toMatchObject({ code: 0 })
      expect(JSON.parse((yield* cli("ls", "--url", url, "--json")).stdout)).toEqual([])
    }))

  it.scopedLive("a plain `new` prints only the id, for $(termfleet new)", () =>
    Effect.gen(function*() {
      const url = yield* localDaemon
      const created = yield* cli("new", "--url", url, "--", "sh", "-c", "sleep 60")
      expect(created.stdout).toMatch(/^[A-Za-z0-9_-]+\n$/)
      const [session] = JSON.parse((yield* cli("ls", "--url", url, "--json")).stdout)
      expect(session).toMatchObject({ sessionId: created.stdout.trim(), command: "sh -c 'sleep 60'" })
    }))

  it.scopedLive("the daemon's error is printed and exits 1", () =>
    Effect.gen(function*() {
      const url = yield* localDaemon
      const ended = yield* cli("end", "--url", url, "nope")
      expect(ended.code).toBe(1)
      expect(ended.stderr).toContain("no session 'nope'")
      const refused = yield* cli("new", "--url", url, "--computer", "elsewhere")
      expect(refused.code).toBe(1)
      expect(refused.stderr).toContain("elsewhere")
    }))

  const badUsage: ReadonlyArray<readonly [ReadonlyArray<string>, string]> = [
    [["send", "only-an-id"], "Missing argument <TEXT>"],
    [["end"], "Missing argument <SESSION>"],
    [["end", "bad id!"], "a session id is"],
    [["ls", "--bogus"], "--bogus"],
    [["ls", "--title", "x"], "--title"],
    [["ls", "--url", "ftp://x"], "--url"],
    [["output", "--lines", "0", "abc"], `--lines "0"`],
    [["output", "--lines", "0x10", "abc"], `--lines "0x10": expected a plain decimal number`],
    [["new", "--computer", "no spaces"], "--computer"]
  ]
  it.effect.each(badUsage)("bad usage %j exits 2 and says where the usage is", ([argv, message]) =>
    Effect.gen(function*() {
      const ran = yield* cli(...argv)
      expect(ran.code).toBe(2)
      expect(ran.stderr).toContain(message)
      expect(ran.stderr).toContain(`see 'termfleet ${argv[0]} --help'`)
    }))

  it.scopedLive("a wrong token is refused with the daemon's reason, exit 1", () =>
    Effect.gen(function*() {
      const url = yield* localDaemon
      const ran = yield* cliWith({ TERMFLEET_TOKEN: "not-the-token" }, "ls", "--url", url)
      expect(ran.code).toBe(1)
      expect(ran.stderr).toContain("a valid token is required")
    }))

  it.live("a daemon that is not there exits 3 and says how to start it", () =>
    Effect.gen(function*() {
      const port = yield* Effect.promise(freePort)
      const ran = yield* cli("ls", "--url", `http://127.0.0.1:${port}`)
      expect(ran.code).toBe(3)
      expect(ran.stderr).toContain("is the daemon running? start it with: termfleet daemon")
    }))
})

describe("the client's flags", () => {
  it.live("TERMFLEET_URL names the daemon, and --url wins over it", () =>
    Effect.gen(function*() {
      const port = yield* Effect.promise(freePort)
      const fromEnv = yield* cliWith({ TERMFLEET_URL: `http://127.0.0.1:${port}/from-env` }, "ls")
      expect(fromEnv.stderr).toContain(`http://127.0.0.1:${port}/from-env`)
      const fromFlag = yield* cliWith({ TERMFLEET_URL: "http://127.0.0.1:1/from-env" }, "ls", "--url", `http://127.0.0.1:${port}/flag`)
      expect(fromFlag.stderr).toContain(`http://127.0.0.1:${port}/flag`)
    }))

  it.scopedLive("new: words after -- are the command, a relative project is made absolute", () =>
    Effect.gen(function*() {
      const url = yield* localDaemon
      const created = JSON.parse((yield* cli("new", "--url", url, "--json", "--project", "test", "--", "npm", "run", "-s", "dev")).stdout)
      expect(created).toMatchObject({ projectPath: `${process.cwd()}/test`, command: "npm run -s dev" })
    }))

  it("new: one word is a shell line as it is, several are quoted like an argument list", () => {
    expect(shellCommand(["make test && echo ok"])).toBe("make test && echo ok")
    expect(shellCommand(["sh", "-c", "echo it's $HOME"])).toBe(`sh -c 'echo it'\\''s $HOME'`)
  })

  it.effect("help: the overview, each command's flags with their env vars, and a completion script", () =>
    Effect.gen(function*() {
      const overview = yield* cli("--help")
      expect(overview.code).toBe(0)
      for (const command of ["daemon", "ls", "new", "send", "end", "output", "watch", "wait"]) {
        expect(overview.stdout).toMatch(new RegExp(`^  ${command}\\s+\\S`, "m"))
      }
      const ls = yield* cli("ls", "--help")
      expect(ls.stdout).toContain("--url URL")
      expect(ls.stdout).toContain("TERMFLEET_URL")
      // Not a terminal: no styling escapes.
      expect(ls.stdout).not.toContain("\u001b[")
      expect((yield* cli("help", "daemon")).stdout).toContain("TERMFLEET_FLEET_SECRET_FILE")
      expect((yield* cli("--version")).stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/)
      const completions = yield* cli("--completions", "bash")
      expect(completions.code).toBe(0)
      expect(completions.stdout).toContain("complete -F")
      expect(completions.stdout).toContain("watch")
    }))
})
