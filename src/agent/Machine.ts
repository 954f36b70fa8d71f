/**
 * An agent session's state from three sources, the most reliable first: the
 * agent's own hooks, its screen, its process. Pure: every function takes the
 * memory of one session and answers the next.
 *
 * - A hook says exactly what happened, so once hooks arrive for a session
 *   its state is theirs.
 * - The screen is read for agents without hooks, for the summary and the
 *   answers offered, and to notice when it contradicts the hooks: when the
 *   screen changed to a different reading after the last hook, and kept it
 *   for `SETTLE_MILLIS`, the state says so in `conflict` instead of guessing
 *   which is right.
 * - A process gone (pane dead, or back at the shell) is `exited`, whatever
 *   the others said.
 */
import { Option, Schema } from "effect"
import type { AgentChoice, AgentName, AgentReading, AgentSource, AgentStatus, AgentStateName, WaitReason } from "../domain/Model.js"
import type { HookEvent } from "./HookPayload.js"
import type { ScreenReading } from "./Screen.js"
import { describeTool, lastLineOf, oneLine } from "./Text.js"

/** How long the screen must keep contradicting the hooks before the state says so (screens lag hooks). */
export const SETTLE_MILLIS = 2000

/** A reading of some source and when it began (a new summary alone does not restart it). */
export interface Stamped {
  readonly reading: ScreenReading
  readonly at: number
}

export interface AgentMemory {
  readonly name: AgentName
  readonly hook: Stamped | null
  readonly screen: Stamped | null
  /** The agent's process is running. */
  readonly running: boolean
  /** The status last answered, for `since`. */
  readonly status: AgentStatus | null
}

export const newMemory = (name: AgentName): AgentMemory => ({ name, hook: null, screen: null, running: true, status: null })

const reading = (
  state: AgentStateName,
  reason: WaitReason | null,
  summary: string,
  choices: ReadonlyArray<AgentChoice> = []
): ScreenReading => ({ state, reason, summary, choices })

/** A turn that ended on a question is waiting for its answer; otherwise it is done. */
const turnEnded = (lastMessage: string): ScreenReading => {
  const last = oneLine(lastLineOf(lastMessage))
  return last.endsWith("?") ? reading("waiting", "question", last) : reading("done", null, last)
}

const AskUserQuestion = Schema.Struct({ questions: Schema.NonEmptyArray(Schema.Struct({ question: Schema.String })) })
const questionOf = (input: unknown) =>
  Option.match(Schema.decodeUnknownOption(AskUserQuestion)(input), {
    onNone: () => "",
    onSome: ({ questions }) => oneLine(questions[0].question)
  })

/** What a hook says the agent is doing now, or `null` when it says nothing new. */
export const readHook = (hook: HookEvent, previous: ScreenReading | null): ScreenReading | null => {
  if (hook.agent === "codex") return turnEnded(hook.event["last-assistant-message"] ?? "")
  const event = hook.event
  switch (event.hook_event_name) {
    case "UserPromptSubmit":
      return reading("working", null, oneLine(event.prompt))
    case "PreToolUse":
      return event.tool_name === "AskUserQuestion"
        ? reading("waiting", "question", questionOf(event.tool_input))
        : reading("working", null, describeTool(event.tool_name, event.tool_input))
    case "PostToolUse":
      return reading("working", null, describeTool(event.tool_name, event.tool_input))
    case "PermissionRequest":
      return reading("waiting", "permission", describeTool(event.tool_name, event.tool_input))
    case "Notification": {
      // Older versions send no type; their messages say which it is.
      const type = event.notification_type ??
        (/permission/i.test(event.message) ? "permission_prompt" : /waiting for your input/i.test(event.message) ? "idle_prompt" : "")
      switch (type) {
        case "permission_prompt":
          // PermissionRequest, just before, said more than "Claude needs your permission to use Bash".
          return previous?.state === "waiting" && previous.reason === "permission"
            ? previous
            : reading("waiting", "permission", oneLine(event.message))
        case "elicitation_dialog":
          return reading("waiting", "question", oneLine(event.message))
        case "idle_prompt":
          return previous?.state === "waiting" ? null : reading("done", null, previous?.summary ?? "")
        default:
          return null
      }
    }
    case "Stop":
      return turnEnded(event.last_assistant_message ?? "")
    case "SessionEnd":
      // `/clear` ends a conversation, not the program.
      return event.reason === "clear" ? reading("done", null, "") : reading("exited", null, oneLine(`ended: ${event.reason}`))
  }
}

const sameReading = (a: AgentReading, b: AgentReading) => a.state === b.state && a.reason === b.reason

/** A new reading keeps the time of the one before when only its summary or choices changed. */
const stamp = (previous: Stamped | null, next: ScreenReading, now: number): Stamped => ({
  reading: next,
  at: previous !== null && sameReading(previous.reading, next) ? previous.at : now
})

export const applyHook = (memory: AgentMemory, hook: HookEvent, now: number): AgentMemory => {
  const next = readHook(hook, memory.hook?.reading ?? null)
  // A hook is news even when it repeats the state: it is the latest word.
  return next === null ? memory : { ...memory, hook: { reading: next, at: now } }
}

/** `null`: none of the screen patterns matched, so the screen says nothing new. */
export const applyScreen = (memory: AgentMemory, screen: ScreenReading | null, now: number): AgentMemory =>
  screen === null ? memory : { ...memory, screen: stamp(memory.screen, screen, now) }

export const applyProcess = (memory: AgentMemory, running: boolean): AgentMemory =>
  memory.running === running ? memory : { ...memory, running }

/** The screen cannot tell a finished turn from one ending on a question. */
const compatible = (a: AgentReading, b: AgentReading) =>
  sameReading(a, b) || (a.state === b.state && (a.reason === null || b.reason === null)) ||
  [a, b].every((r) => r.state === "done" || (r.state === "waiting" && r.reason === "question"))

/** The status of a session now; `since` is kept while the state and reason stay. */
export const statusOf = (memory: AgentMemory, now: number): AgentStatus => {
  const { hook, screen } = memory
  let base: ScreenReading
  let source: AgentSource
  let conflict: AgentReading | null = null
  if (!memory.running) {
    base = reading("exited", null, hook?.reading.state === "exited" ? hook.reading.summary : "")
    source = "process"
  } else if (hook !== null) {
    base = hook.reading
    source = "hook"
    if (
      screen !== null && screen.at > hook.at && now - screen.at >= SETTLE_MILLIS &&
      !compatible(screen.reading, hook.reading)
    ) conflict = { state: screen.reading.state, reason: screen.reading.reason }
  } else if (screen !== null) {
    base = screen.reading
    source = "screen"
  } else {
    // Started, and nothing read yet.
    base = reading("working", null, "")
    source = "process"
  }
  const waitingOnScreen = base.state === "waiting" && screen?.reading.state === "waiting"
  const previous = memory.status
  return {
    name: memory.name,
    state: base.state,
    reason: base.reason,
    since: previous !== null && sameReading(previous, base) ? previous.since : now,
    summary: base.summary !== "" ? base.summary : waitingOnScreen ? screen.reading.summary : "",
    source,
    choices: waitingOnScreen ? screen.reading.choices : [],
    conflict
  }
}
