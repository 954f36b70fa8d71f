import { describe, expect, it } from "@effect/vitest"
import { readScreen } from "../../src/agent/Screen.js"
import type { AgentName } from "../../src/domain/Model.js"
import { recordedScreen } from "../support/Screens.js"

const read = (agent: AgentName, name: string) => readScreen(agent, recordedScreen(name))
const labels = (agent: AgentName, name: string) => read(agent, name)?.choices.map((c) => `${c.keys} ${c.label}`)

describe("screen patterns against recorded screens", () => {
  describe("Claude Code", () => {
    it("a Bash permission dialog: the command as summary, its three answers", () => {
      expect(read("claude", "claude-permission")).toMatchObject({
        state: "waiting",
        reason: "permission",
        summary: "Bash command: rm -rf build"
      })
      expect(labels("claude", "claude-permission")).toEqual([
        "1 Yes",
        "2 Yes, and don't ask again for rm commands in /home/dev/app",
        "3 No, and tell Claude what to do differently (esc)"
      ])
    })

    it("an edit permission dialog", () => {
      expect(read("claude", "claude-edit-permission")).toMatchObject({ state: "waiting", reason: "permission" })
      expect(read("claude", "claude-edit-permission")?.summary).toMatch(/^Edit file/)
      expect(labels("claude", "claude-edit-permission")).toHaveLength(3)
    })

    it("a question with numbered options: the question as summary", () => {
      expect(read("claude", "claude-question")).toMatchObject({
        state: "waiting",
        reason: "question",
        summary: "Which database should the new service use?"
      })
      expect(labels("claude", "claude-question")).toEqual(["1 PostgreSQL", "2 SQLite", "3 Type something."])
    })

    it("the spinner is working, whatever the prompt box below it", () => {
      expect(read("claude", "claude-working")).toEqual({ state: "working", reason: null, summary: "Pondering…", choices: [] })
    })

    it("at its prompt, after a turn or at start, is done", () => {
      expect(read("claude", "claude-done")).toMatchObject({ state: "done", reason: null, choices: [] })
      expect(read("claude", "claude-welcome")).toMatchObject({ state: "done" })
    })

    it("an API error above the prompt is waiting on an error", () => {
      expect(read("claude", "claude-api-error")).toMatchObject({ state: "waiting", reason: "error", choices: [] })
      expect(read("claude", "claude-api-error")?.summary).toMatch(/^⎿ API Error: 529/)
    })
  })

  describe("Codex", () => {
    it("an approval: the command as summary and the numbered answers", () => {
      expect(read("codex", "codex-approval")).toMatchObject({ state: "waiting", reason: "permission", summary: "rm -rf build" })
      expect(labels("codex", "codex-approval")).toEqual([
        "1 Yes, proceed (y)",
        "2 Yes, and don't ask again for this command (a)",
        "3 No, and tell Codex what to do differently (esc)"
      ])
    })

    it("working, done and an error", () => {
      expect(read("codex", "codex-working")).toMatchObject({ state: "working", summary: "Working" })
      expect(read("codex", "codex-done")).toMatchObject({ state: "done" })
      expect(read("codex", "codex-welcome")).toMatchObject({ state: "done" })
      expect(read("codex", "codex-error")).toMatchObject({ state: "waiting", reason: "error" })
    })
  })

  describe("Gemini CLI", () => {
    it("an approval, from the dialog and the pane title", () => {
      expect(read("gemini", "gemini-approval")).toMatchObject({
        state: "waiting",
        reason: "permission",
        summary: "Allow execution of: 'rm'?"
      })
      expect(labels("gemini", "gemini-approval")).toEqual(["1 Yes, allow once", "2 Yes, allow always ...", "3 No, suggest changes (esc)"])
      expect(readScreen("gemini", { screen: "", title: "✋  Action Required (app)" })).toMatchObject({ state: "waiting", reason: "permission" })
    })

    it("working and ready, from the screen or the title alone", () => {
      expect(read("gemini", "gemini-working")).toMatchObject({ state: "working", summary: "Consulting the manual" })
      expect(readScreen("gemini", { screen: "", title: "✦  Reading files (app)" })).toMatchObject({ state: "working", summary: "Reading files" })
      expect(read("gemini", "gemini-done")).toMatchObject({ state: "done" })
    })
  })

  describe("aider", () => {
    it("a yes/no question: the question and what it is about, answered with letters", () => {
      expect(read("aider", "aider-permission")).toMatchObject({
        state: "waiting",
        reason: "permission",
        summary: "Run shell command? rm -rf build"
      })
      expect(labels("aider", "aider-permission")).toEqual(["y Yes", "n No", "d Don't ask again"])
    })

    it("streaming is working, its prompt is done, an API error is waiting on an error", () => {
      expect(read("aider", "aider-working")).toMatchObject({ state: "working" })
      expect(read("aider", "aider-done")).toMatchObject({ state: "done" })
      expect(read("aider", "aider-error")).toMatchObject({ state: "waiting", reason: "error" })
    })
  })

  it("a screen none of the patterns knows says nothing", () => {
    expect(readScreen("claude", { screen: "$ ls\nREADME.md  src\n", title: "" })).toBeNull()
    expect(readScreen("codex", { screen: "", title: "" })).toBeNull()
  })
})
