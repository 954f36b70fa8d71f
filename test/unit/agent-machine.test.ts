import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import { decodeHook, type HookEvent } from "../../src/agent/HookPayload.js"
import { type AgentMemory, applyHook, applyProcess, applyScreen, newMemory, SETTLE_MILLIS, statusOf } from "../../src/agent/Machine.js"
import { readScreen } from "../../src/agent/Screen.js"
import { hookPayload, recordedScreen } from "../support/Screens.js"

const hook = (name: string, patch: Record<string, unknown> = {}): HookEvent => {
  const agent = name.startsWith("codex") ? "codex" : "claude"
  return Either.getOrThrow(decodeHook(agent, { ...JSON.parse(hookPayload(name)), ...patch }))
}
const screen = (name: string) => readScreen(name.startsWith("codex") ? "codex" : "claude", recordedScreen(name))

/** Applies steps at the given times, taking the status after each (as the service does). */
const run = (memory: AgentMemory, steps: ReadonlyArray<readonly [number, (m: AgentMemory, now: number) => AgentMemory]>) => {
  let current = memory
  const statuses = []
  for (const [now, step] of steps) {
    current = step(current, now)
    const status = statusOf(current, now)
    current = { ...current, status }
    statuses.push(status)
  }
  return statuses
}
const onHook = (name: string, patch?: Record<string, unknown>) => (m: AgentMemory, now: number) => applyHook(m, hook(name, patch), now)
const onScreen = (name: string) => (m: AgentMemory, now: number) => applyScreen(m, screen(name), now)
const pick = (s: { state: string; reason: string | null; source: string }) => `${s.state}${s.reason === null ? "" : `(${s.reason})`} by ${s.source}`

describe("agent state machine", () => {
  it("follows Claude Code's hooks through a turn with a permission", () => {
    const statuses = run(newMemory("claude"), [
      [1000, onHook("claude-UserPromptSubmit")],
      [1100, onHook("claude-PreToolUse")],
      [1200, onHook("claude-PermissionRequest")],
      [1300, onHook("claude-Notification-permission")],
      [5000, onHook("claude-PostToolUse")],
      [6000, onHook("claude-Stop")]
    ])
    expect(statuses.map(pick)).toEqual([
      "working by hook",
      "working by hook",
      "waiting(permission) by hook",
      "waiting(permission) by hook",
      "working by hook",
      "done by hook"
    ])
    expect(statuses.map((s) => s.summary)).toEqual([
      "remove the build folder",
      "Bash: rm -rf build",
      "Bash: rm -rf build",
      // The notification's "Claude needs your permission to use Bash" says less than the request before it.
      "Bash: rm -rf build",
      "Bash: rm -rf build",
      "Removed the build folder."
    ])
    expect(statuses.map((s) => s.since)).toEqual([1000, 1000, 1200, 1200, 5000, 6000])
  })

  it("a turn ending on a question waits for its answer; an idle prompt after a finished turn stays done", () => {
    const [asked] = run(newMemory("claude"), [[1000, onHook("claude-Stop", { last_assistant_message: "Done.\nShall I run the tests too?" })]])
    expect(asked).toMatchObject({ state: "waiting", reason: "question", summary: "Shall I run the tests too?" })
    const [, idle] = run(newMemory("claude"), [[1000, onHook("claude-Stop")], [61_000, onHook("claude-Notification-idle")]])
    expect(idle).toMatchObject({ state: "done", since: 1000, summary: "Removed the build folder." })
  })

  it("AskUserQuestion is a question with its text", () => {
    const [status] = run(newMemory("claude"), [[1000, onHook("claude-PreToolUse", {
      tool_name: "AskUserQuestion",
      tool_input: { questions: [{ question: "Which database should the new service use?", header: "Database", options: [], multiSelect: false }] }
    })]])
    expect(status).toMatchObject({ state: "waiting", reason: "question", summary: "Which database should the new service use?" })
  })

  it("Codex's turn-complete notification is done, with the last message", () => {
    const [status] = run(newMemory("codex"), [[1000, onHook("codex-agent-turn-complete")]])
    expect(status).toMatchObject({ state: "done", source: "hook", summary: "Added --verbose: it raises the log level to debug." })
  })

  it("without hooks, the screen tells the state, and the answers it offers", () => {
    const statuses = run(newMemory("claude"), [
      [0, (m) => m],
      [1000, onScreen("claude-working")],
      [2000, onScreen("claude-permission")],
      [3000, onScreen("claude-done")]
    ])
    expect(statuses.map(pick)).toEqual(["working by process", "working by screen", "waiting(permission) by screen", "done by screen"])
    expect(statuses[2]!.choices.map((c) => c.keys)).toEqual(["1", "2", "3"])
    expect(statuses[3]!.choices).toEqual([])
  })

  it("a screen no pattern knows changes nothing", () => {
    const [, after] = run(newMemory("claude"), [[1000, onScreen("claude-permission")], [2000, (m, now) => applyScreen(m, null, now)]])
    expect(after).toMatchObject({ state: "waiting", reason: "permission", since: 1000 })
  })

  it("hooks win, with the screen's answers for the permission they announce", () => {
    const [, withScreen] = run(newMemory("claude"), [[1000, onHook("claude-PermissionRequest")], [1400, onScreen("claude-permission")]])
    expect(withScreen).toMatchObject({ state: "waiting", reason: "permission", source: "hook", summary: "Bash: rm -rf build", conflict: null })
    expect(withScreen!.choices.map((c) => c.label)).toContain("Yes")
  })

  it("says so when the screen keeps contradicting the hooks, and not before it settled", () => {
    const statuses = run(newMemory("claude"), [
      [1000, onHook("claude-PermissionRequest")],
      [1400, onScreen("claude-permission")],
      // Answered in the terminal itself: no hook says so, the screen does.
      [9000, onScreen("claude-working")],
      [9000 + SETTLE_MILLIS - 1, (m) => m],
      [9000 + SETTLE_MILLIS, (m) => m],
      [12_000, onHook("claude-PostToolUse")]
    ])
    expect(statuses.map((s) => s.conflict)).toEqual([null, null, null, null, { state: "working", reason: null }, null])
    expect(statuses[4]).toMatchObject({ state: "waiting", reason: "permission", source: "hook" })
    expect(statuses[5]).toMatchObject({ state: "working", source: "hook" })
  })

  it("a screen older than the last hook is no contradiction, nor a question the screen shows as a prompt", () => {
    const [, stale] = run(newMemory("claude"), [[1000, onScreen("claude-working")], [2000, onHook("claude-Stop")]])
    expect(stale!.conflict).toBeNull()
    const question = run(newMemory("claude"), [
      [1000, onHook("claude-Stop", { last_assistant_message: "Shall I?" })],
      [1500, onScreen("claude-done")],
      [1500 + SETTLE_MILLIS, (m) => m]
    ])
    expect(question.at(-1)).toMatchObject({ state: "waiting", reason: "question", conflict: null })
  })

  it("the process gone is exited, whatever hooks and screen said", () => {
    const statuses = run(newMemory("claude"), [
      [1000, onHook("claude-PermissionRequest")],
      [2000, (m) => applyProcess(m, false)]
    ])
    expect(statuses.at(-1)).toMatchObject({ state: "exited", reason: null, source: "process", since: 2000, choices: [] })
    const [ended] = run(newMemory("claude"), [[1000, onHook("claude-SessionEnd")]])
    expect(ended).toMatchObject({ state: "exited", summary: "ended: prompt_input_exit" })
    const [cleared] = run(newMemory("claude"), [[1000, onHook("claude-SessionEnd", { reason: "clear" })]])
    expect(cleared).toMatchObject({ state: "done" })
  })
})
