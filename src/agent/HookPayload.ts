/**
 * What the agents' hooks send, as their documentation describes it, decoded
 * strictly: a payload missing a documented field, or with a field of the
 * wrong type, or for an event termfleet does not install, is refused.
 * Fields the agents add later are ignored, so a newer agent still works.
 *
 * Claude Code runs a command hook with the event's JSON on stdin (or POSTs
 * it, for an `http` hook); Codex runs its `notify` program with the JSON as
 * the last argument.
 */
import { Either, ParseResult, Schema } from "effect"
import { hookAgents } from "./HookWire.js"

/** Fields every Claude Code hook event carries. */
const ClaudeCommon = {
  session_id: Schema.String,
  transcript_path: Schema.optional(Schema.String),
  cwd: Schema.optional(Schema.String),
  permission_mode: Schema.optional(Schema.String)
}

const ToolInput = Schema.Record({ key: Schema.String, value: Schema.Unknown })

export const ClaudeHook = Schema.Union(
  Schema.Struct({
    ...ClaudeCommon,
    hook_event_name: Schema.Literal("Notification"),
    message: Schema.String,
    title: Schema.optional(Schema.String),
    /** `permission_prompt`, `idle_prompt`, `elicitation_dialog`, `auth_success`, ... (older versions send none). */
    notification_type: Schema.optional(Schema.String)
  }),
  Schema.Struct({
    ...ClaudeCommon,
    hook_event_name: Schema.Literal("UserPromptSubmit"),
    prompt: Schema.String
  }),
  Schema.Struct({
    ...ClaudeCommon,
    hook_event_name: Schema.Literal("PreToolUse", "PostToolUse", "PermissionRequest"),
    tool_name: Schema.String,
    tool_input: ToolInput
  }),
  Schema.Struct({
    ...ClaudeCommon,
    hook_event_name: Schema.Literal("Stop"),
    stop_hook_active: Schema.Boolean,
    last_assistant_message: Schema.optional(Schema.String)
  }),
  Schema.Struct({
    ...ClaudeCommon,
    hook_event_name: Schema.Literal("SessionEnd"),
    /** `clear`, `logout`, `prompt_input_exit`, `other`, ... */
    reason: Schema.String
  })
)
export type ClaudeHook = typeof ClaudeHook.Type

/** The events `termfleet hooks install` registers for Claude Code. */
export const claudeEvents = ["UserPromptSubmit", "PreToolUse", "PermissionRequest", "PostToolUse", "Notification", "Stop", "SessionEnd"] as const

/** Codex's `notify` program gets one JSON argument; `agent-turn-complete` is the only type it sends. */
export const CodexNotify = Schema.Struct({
  type: Schema.Literal("agent-turn-complete"),
  "thread-id": Schema.optional(Schema.String),
  "turn-id": Schema.String,
  cwd: Schema.optional(Schema.String),
  client: Schema.optional(Schema.String),
  "input-messages": Schema.Array(Schema.String),
  "last-assistant-message": Schema.optional(Schema.NullOr(Schema.String))
})
export type CodexNotify = typeof CodexNotify.Type

/** Agents whose hooks termfleet takes. */
export const HookAgent = Schema.Literal(...hookAgents)
export type HookAgent = typeof HookAgent.Type

export type HookEvent =
  | { readonly agent: "claude"; readonly event: ClaudeHook }
  | { readonly agent: "codex"; readonly event: CodexNotify }

const decodeClaude = Schema.decodeUnknownEither(ClaudeHook)
const decodeCodex = Schema.decodeUnknownEither(CodexNotify)

/** Decodes a hook's JSON value, or says what is wrong with it (one line). */
export const decodeHook = (agent: HookAgent, json: unknown): Either.Either<HookEvent, string> => {
  const problem = (error: ParseResult.ParseError) =>
    `not a ${agent} hook payload: ${error.message.split("\n").filter((line) => line.trim() !== "").at(-1)?.trim() ?? ""}`
  return agent === "claude"
    ? Either.mapBoth(decodeClaude(json), { onLeft: problem, onRight: (event) => ({ agent, event }) })
    : Either.mapBoth(decodeCodex(json), { onLeft: problem, onRight: (event) => ({ agent, event }) })
}
