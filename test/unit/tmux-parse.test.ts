/**
 * The pure side of the tmux service: the listing format and its decoding,
 * the argument lists, capture splitting, output tails, status, and the
 * checks on what may reach tmux.
 */
import { describe, expect, it } from "@effect/vitest"
import { Either, Schema } from "effect"
import fc from "fast-check"
import { Limits } from "../../src/domain/Limits.js"
import { checkCreate, defaultTitle, SessionNotFound } from "../../src/local/LocalSessions.js"
import {
  chunkText,
  commandBytes,
  createArgs,
  isNoServer,
  lastOutputOf,
  listFormat,
  literal,
  OptionText,
  packCommands,
  parseListing,
  parseNames,
  parseSessionLine,
  sendArgs,
  type SessionMeta,
  statusOf,
  storedInput,
  tailLines,
  TmuxName,
  toSession,
  uniqueName,
  unexpanded
} from "../../src/local/Tmux.js"

const fields = {
  tmuxId: "$3",
  sessionId: "0123456789ab",
  createdAt: "1700000000123",
  title: "my%09title%25",
  tmuxName: "my title",
  projectPath: "/home/me/project",
  command: "claude --resume",
  lastInput: "",
  activity: "1700000001",
  dead: "0",
  paneCommand: "claude",
  paneTitle: "✳ Fix the parser",
  name: "my title"
}
type Fields = typeof fields
const line = (overrides: Partial<Fields> = {}) => Object.values({ ...fields, ...overrides }).join("\t")

const meta: SessionMeta = {
  sessionId: "0123456789ab",
  createdAt: 1_700_000_000_123,
  title: "x; rm -rf / #(touch p) ;",
  tmuxName: "x; rm -rf / #(touch p) ;",
  projectPath: "/tmp/a b;",
  command: "echo $HOME;",
  lastInput: null
}

/** The value each `set-option -t T -- @opt value` of an argument list sets. */
const optionsSet = (args: ReadonlyArray<string>) => {
  const set = new Map<string, string>()
  args.forEach((arg, i) => {
    if (arg === "set-option" && args[i + 3] === "--") set.set(args[i + 4]!, args[i + 5]!)
  })
  return set
}

const unescapeLiteral = (arg: string) => (arg.endsWith("\\;") ? `${arg.slice(0, -2)};` : arg)

describe("the listing", () => {
  it("has one tab-separated column per field, the session name last", () => {
    // A column may hold a tab of its own inside its format (#{s/<tab>/ /:...}): columns start with '#{'.
    expect(listFormat.split(/\t(?=#\{)/)).toHaveLength(Object.keys(fields).length)
    expect(listFormat.startsWith("#{session_id}\t#{@tf_id}\t")).toBe(true)
    expect(listFormat.endsWith("\t#{session_name}")).toBe(true)
  })

  it("decodes a line into a record", () => {
    expect(parseSessionLine(line())).toEqual(Either.right({
      tmuxId: "$3",
      sessionId: "0123456789ab",
      createdAt: 1_700_000_000_123,
      title: "my\ttitle%",
      tmuxName: "my title",
      projectPath: "/home/me/project",
      command: "claude --resume",
      lastInput: null,
      activity: 1_700_000_001,
      dead: false,
      paneCommand: "claude",
      paneTitle: "✳ Fix the parser",
      name: "my title"
    }))
    expect(parseSessionLine(line({ dead: "1", lastInput: "y%0A", projectPath: "" }))).toMatchObject(
      Either.right({ dead: true, lastInput: "y\n", projectPath: null })
    )
  })

  it("keeps a tab in the session name, the last column", () => {
    expect(parseSessionLine(line({ name: "a\tb" }))).toMatchObject(Either.right({ name: "a\tb" }))
  })

  it("undoes tmux's escaping of session names: octal bytes, C-style escapes, '\\\\'", () => {
    // As tmux 3.3 prints `x<U+2028>y \ <tab><ESC>` as a session name.
    expect(parseSessionLine(line({ name: "x\\342\\200\\250y \\\\ \\t\\033" }))).toMatchObject(
      Either.right({ name: "x\u2028y \\ \t\u001b" })
    )
    expect(parseNames("plain\nx\\342\\200\\251y\nback\\\\342\n")).toEqual(new Set(["plain", "x\u2029y", "back\\342", ""]))
    // tmux 3.3 writes a '$' that a shell would expand (before a letter, '_' or '{') as `\$`.
    expect(parseNames("\\$A\na\\${x\na$1\n")).toEqual(new Set(["$A", "a${x", "a$1", ""]))
  })

  it("session names survive tmux's escaping: decoded back unchanged", () => {
    const encode = Schema.encodeSync(TmuxName)
    const decode = Schema.decodeSync(TmuxName)
    fc.assert(fc.property(fc.string({ unit: "binary" }), (name) => {
      const printed = encode(name)
      expect(printed).not.toMatch(/[\u0000-\u001f\u2028\u2029]/)
      expect(decode(printed)).toBe(name)
    }))
  })

  it.each([
    ["not termfleet's (no @tf_id)", line({ sessionId: "" })],
    ["too few fields", "$1\tabc"],
    ["an empty line", ""],
    ["activity not a number", line({ activity: "soon" })],
    ["pane_dead not a flag", line({ dead: "2" })],
    ["a tmux id without $", line({ tmuxId: "3" })],
    ["a negative creation time", line({ createdAt: "-5" })],
    ["a fractional creation time", line({ createdAt: "1.5" })],
    ["a malformed id", line({ sessionId: "../../etc" })],
    ["a value that is not percent-encoded", line({ title: "%zz" })],
    ["a session name with a dangling escape", line({ name: "a\\" })],
    ["a session name with a short octal escape", line({ name: "a\\34" })]
  ])("rejects a line with %s", (_, bad) => {
    expect(Either.isLeft(parseSessionLine(bad))).toBe(true)
  })

  it("keeps only termfleet's well-formed sessions of a listing", () => {
    const listing = [line(), line({ sessionId: "" }), "garbage", line({ tmuxId: "$4", sessionId: "ba9876543210" }), ""]
      .join("\n")
    expect(parseListing(listing).map((s) => s.tmuxId)).toEqual(["$3", "$4"])
  })

  it("option values survive any text: one line, no final ';', decoded back unchanged", () => {
    const encode = Schema.encodeSync(OptionText)
    const decode = Schema.decodeSync(OptionText)
    fc.assert(fc.property(fc.string({ unit: "binary" }), (text) => {
      const encoded = encode(text)
      expect(encoded).not.toMatch(/[\t\n\r;\u0000]/)
      expect(decode(encoded)).toBe(text)
    }))
  })

  it("what createArgs stores is what the listing decodes", () => {
    fc.assert(fc.property(fc.string({ unit: "binary" }), fc.option(fc.string({ unit: "binary", minLength: 1 })), (text, input) => {
      const stored = { ...meta, title: text, command: text, lastInput: input }
      const set = optionsSet(createArgs(stored))
      const listed = line({
        sessionId: set.get("@tf_id")!,
        createdAt: set.get("@tf_created")!,
        title: set.get("@tf_title")!,
        tmuxName: set.get("@tf_name")!,
        projectPath: set.get("@tf_project")!,
        command: set.get("@tf_command")!,
        lastInput: set.get("@tf_last_input")!
      })
      expect(parseSessionLine(listed)).toMatchObject(Either.right(stored))
    }))
  })
})

describe("arguments", () => {
  it("literal escapes a final ';' so tmux does not end the command there", () => {
    expect(literal("plain")).toBe("plain")
    expect(literal("a;")).toBe("a\\;")
    expect(literal(";")).toBe("\\;")
    expect(literal("find . -exec rm {} \\;")).toBe("find . -exec rm {} \\\\;")
    expect(literal("a;b")).toBe("a;b")
  })

  it("unexpanded also doubles '#', so formats and #(...) stay text", () => {
    expect(unexpanded("#{session_id} #(touch x);")).toBe("##{session_id} ##(touch x)\\;")
  })

  it("createArgs: one invocation, user text never read as a separator, an option or a format", () => {
    const args = createArgs(meta)
    expect(args.slice(0, 4)).toEqual(["new-session", "-d", "-s", "tf-0123456789ab"])
    expect(args.slice(4, 8)).toEqual(["-c", "/tmp/a b\\;", "--", "echo $HOME\\;"])
    expect(args.filter((arg) => arg.endsWith(";")).every((arg) => arg === ";" || arg.endsWith("\\;"))).toBe(true)
    const renamed = args.indexOf("rename-session")
    expect(args.slice(renamed, renamed + 5)).toEqual([
      "rename-session", "-t", "=tf-0123456789ab:", "--", "x; rm -rf / ##(touch p) \\;"
    ])
    expect(args).toContain("remain-on-exit")
    expect(args.slice(-4)).toEqual(["-F", listFormat, "-f", "#{==:#{@tf_id},0123456789ab}"])
  })

  it("uniqueName gives the name tmux keeps, suffixed when taken", () => {
    expect(uniqueName("a:b.c\\d", new Set())).toBe("a_b_c_d")
    expect(uniqueName("x", new Set(["x", "x-2"]))).toBe("x-3")
    expect(uniqueName("-t evil", new Set(["other"]))).toBe("-t evil")
  })

  it("chunkText keeps characters whole and pieces within the byte limit", () => {
    fc.assert(fc.property(fc.string({ unit: "binary" }), fc.integer({ min: 4, max: 64 }), (text, max) => {
      const chunks = chunkText(text, max)
      expect(chunks.join("")).toBe(text)
      expect(chunks.every((chunk) => chunk !== "" && Buffer.byteLength(chunk) <= max)).toBe(true)
    }))
  })

  it("packCommands fills invocations in order, within the budget", () => {
    const commands = [["a", "1"], ["b", "2"], ["c", "3"]]
    expect(packCommands(commands, 1000)).toEqual([["a", "1", ";", "b", "2", ";", "c", "3"]])
    expect(packCommands(commands, 12)).toEqual([["a", "1", ";", "b", "2"], ["c", "3"]])
  })

  it("sendArgs types 16 KiB in pieces tmux accepts, then Enter, then records the input", () => {
    const text = "ab✓;".repeat(2730)
    const invocations = sendArgs("$2", text, text.slice(0, Limits.lastInputChars))
    expect(invocations.length).toBeGreaterThan(1)
    expect(invocations.every((args) => commandBytes(args) <= Limits.tmuxCommandBytes)).toBe(true)
    const all = invocations.flatMap((args) => [...args, ";"])
    const typed = all.flatMap((arg, i) => (all[i - 1] === "--" && all[i - 5] === "send-keys" ? [unescapeLiteral(arg)] : []))
    expect(typed.join("")).toBe(text)
    expect(all.slice(-12)).toEqual(["send-keys", "-t", "$2", "Enter", ";", "set-option", "-t", "$2", "--", "@tf_last_input", expect.any(String), ";"])
  })

})

describe("from tmux to a Session", () => {
  it("tailLines drops the blank lines below the output and keeps the last lines", () => {
    expect(tailLines("a\nb\nc\n  \n\n", 2)).toBe("b\nc")
    expect(tailLines("\n\n", 5)).toBe("")
  })

  it("lastOutputOf is bounded, and a dead pane's notice does not push the output out", () => {
    const dead = `bye\n${"\n".repeat(22)}Pane is dead (status 3)\n`
    expect(lastOutputOf(dead)).toBe("bye\n\nPane is dead (status 3)")
    const many = Array.from({ length: 100 }, (_, i) => `line ${i}`).join("\n")
    expect(lastOutputOf(many).split("\n")).toHaveLength(Limits.lastOutputLines)
    expect(lastOutputOf("x".repeat(10_000)).length).toBe(Limits.lastOutputChars)
  })

  it("status: exited when the pane is dead, idle after 5 s without output, else running", () => {
    expect(statusOf(true, 1000, 1000)).toBe("exited")
    expect(statusOf(false, 1000, 5999)).toBe("running")
    expect(statusOf(false, 1000, 6000)).toBe("idle")
  })

  it("toSession: a tmux name changed since creation is a rename, and becomes the title", () => {
    const row = Either.getOrThrow(parseSessionLine(line({ title: "wanted", tmuxName: "wanted-2", name: "wanted-2" })))
    const session = toSession(row, "box", "out", 1_700_000_002_000)
    expect(session).toEqual({
      sessionId: "0123456789ab",
      computer: "box",
      title: "wanted",
      projectPath: "/home/me/project",
      command: "claude --resume",
      status: "running",
      createdAt: 1_700_000_000_123,
      lastActivity: 1_700_000_001_000,
      lastInput: null,
      lastOutput: "out"
    })
    expect(toSession({ ...row, name: "renamed" }, "box", "", 0).title).toBe("renamed")
  })

  it("knows tmux's ways of saying there is nothing to list", () => {
    expect(isNoServer("tmux list-sessions: no server running on /tmp/tmux-0/x")).toBe(true)
    expect(isNoServer("tmux list-sessions: error connecting to /tmp/tmux-0/x (No such file or directory)")).toBe(true)
    expect(isNoServer("tmux list-sessions: no sessions")).toBe(true)
    expect(isNoServer("tmux list-sessions: server exited unexpectedly")).toBe(true)
    expect(isNoServer("tmux list-sessions: error connecting to /tmp/tmux-0/x (Permission denied)")).toBe(false)
  })
})

describe("what may reach tmux", () => {
  const shell = "/bin/zsh"

  it("fills in the shell and a title, and keeps given values as they are", () => {
    expect(checkCreate({}, shell)).toEqual(Either.right({ title: "zsh", projectPath: null, command: shell }))
    expect(checkCreate({ projectPath: "/home/me/app", command: " " }, shell)).toEqual(
      Either.right({ title: "app", projectPath: "/home/me/app", command: shell })
    )
    expect(checkCreate({ title: "-t x; y", projectPath: null, command: "npm run dev" }, shell)).toEqual(
      Either.right({ title: "-t x; y", projectPath: null, command: "npm run dev" })
    )
  })

  it("derives a clean default title", () => {
    expect(defaultTitle(null, "  /usr/bin/claude --resume")).toBe("claude")
    expect(defaultTitle("/", "x")).toBe("session")
    expect(defaultTitle("/a/b\u0007c", "x")).toBe("bc")
  })

  it.each([
    ["a relative project folder", { projectPath: "work/app" }],
    ["NUL in the project folder", { projectPath: "/a\u0000b" }],
    ["'#[' in the project folder", { projectPath: "/a/#[b" }]
  ])("refuses %s", (_, request) => {
    const checked = checkCreate(request, shell)
    expect(Either.isLeft(checked) && checked.left._tag).toBe("InvalidSessionInput")
  })

  it("lastInput keeps the first 1024 characters, never half of one", () => {
    expect(storedInput("short")).toBe("short")
    expect(storedInput("😀".repeat(2000))).toBe("😀".repeat(1024))
  })

  it("SessionNotFound says which session", () => {
    expect(new SessionNotFound({ sessionId: "0123456789ab" }).message).toContain("0123456789ab")
  })
})
