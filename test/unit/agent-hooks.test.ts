import { describe, expect, it } from "@effect/vitest"
import { Either, Option } from "effect"
import { agentOfCommand, agentOfProcess, detectAgent } from "../../src/agent/Detect.js"
import { decodeHook, type HookEvent } from "../../src/agent/HookPayload.js"
import { hookPayload } from "../support/Screens.js"

const decoded = (agent: "claude" | "codex", text: string): HookEvent => {
  const result = decodeHook(agent, JSON.parse(text))
  if (Either.isLeft(result)) throw new Error(result.left)
  return result.right
}
const problem = (agent: "claude" | "codex", text: string) => Option.getOrNull(Either.getLeft(decodeHook(agent, JSON.parse(text))))

describe("hook payloads", () => {
  it.each([
    "claude-UserPromptSubmit",
    "claude-PreToolUse",
    "claude-PermissionRequest",
    "claude-Notification-permission",
    "claude-Notification-idle",
    "claude-PostToolUse",
    "claude-Stop",
    "claude-SessionEnd"
  ])("decodes Claude Code's documented %s", (name) => {
    const event = decoded("claude", hookPayload(name))
    expect(event.agent).toBe("claude")
    expect(event.event).toMatchObject({ session_id: "abc123", hook_event_name: JSON.parse(hookPayload(name)).hook_event_name })
  })

  it("decodes Codex's documented agent-turn-complete", () => {
    expect(decoded("codex", hookPayload("codex-agent-turn-complete"))).toMatchObject({
      agent: "codex",
      event: { type: "agent-turn-complete", "turn-id": "12345", "input-messages": ["add a --verbose flag to the cli"] }
    })
  })

  it("ignores fields added by later versions", () => {
    const newer = { ...JSON.parse(hookPayload("claude-Stop")), agent_id: "x", effort: { level: "high" } }
    expect(decoded("claude", JSON.stringify(newer)).event).toMatchObject({ hook_event_name: "Stop" })
  })

  it("refuses a payload that misses a documented field, has a wrong type or is an event not installed", () => {
    const { prompt: _, ...withoutPrompt } = JSON.parse(hookPayload("claude-UserPromptSubmit"))
    expect(problem("claude", JSON.stringify(withoutPrompt))).toMatch(/^not a (claude|codex) hook payload: /)
    expect(problem("claude", JSON.stringify({ ...JSON.parse(hookPayload("claude-Stop")), stop_hook_active: "no" }))).toMatch(/^not a (claude|codex) hook payload: /)
    expect(problem("claude", JSON.stringify({ ...JSON.parse(hookPayload("claude-Stop")), hook_event_name: "PreCompact" }))).toMatch(/^not a (claude|codex) hook payload: /)
    expect(problem("codex", JSON.stringify({ type: "approval-requested" }))).toMatch(/^not a (claude|codex) hook payload: /)
    // One agent's payload is not the other's.
    expect(problem("codex", hookPayload("claude-Stop"))).toMatch(/^not a (claude|codex) hook payload: /)
  })
})

describe("agent detection", () => {
  it("from the pane's process", () => {
    expect(agentOfProcess("claude")).toBe("claude")
    expect(agentOfProcess("codex")).toBe("codex")
    expect(agentOfProcess("gemini")).toBe("gemini")
    expect(agentOfProcess("aider")).toBe("aider")
    expect(agentOfProcess("bash")).toBeNull()
    expect(agentOfProcess("node")).toBeNull()
  })

  it("from the command, through launchers, paths, versions and variables", () => {
    expect(agentOfCommand("claude --resume")).toBe("claude")
    expect(agentOfCommand("npx @anthropic-ai/claude-code")).toBe("claude")
    expect(agentOfCommand("npx -y @openai/codex@latest")).toBe("codex")
    expect(agentOfCommand("ANTHROPIC_MODEL=opus /usr/local/bin/claude")).toBe("claude")
    expect(agentOfCommand("cd ~/app && gemini")).toBe("gemini")
    expect(agentOfCommand("python -m aider --model sonnet")).toBe("aider")
    expect(agentOfCommand("uvx aider-chat")).toBe("aider")
    expect(agentOfCommand("vim claude.md")).toBeNull()
    expect(agentOfCommand("bash")).toBeNull()
  })

  it("the process wins over the command", () => {
    expect(detectAgent("bash", "claude")).toBe("claude")
    expect(detectAgent("codex", "node")).toBe("codex")
    expect(detectAgent("bash", "vim")).toBeNull()
  })
})
