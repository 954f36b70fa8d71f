/**
 * The data termfleet shares: computers, sessions, projects and todos.
 * Every value that crosses a boundary (WebSocket, HTTP, Redis, tmux) is
 * decoded with these schemas.
 */
import { Schema } from "effect"
import { Limits } from "./Limits.js"

/** A computer name: what `--computer` accepts and what keys are built from. */
export const ComputerName = Schema.String.pipe(
  Schema.pattern(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, {
    message: () => "a computer name is 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit"
  })
)

export const Topic = Schema.Literal("sessions", "preparation")
export type Topic = typeof Topic.Type

export const SessionRef = Schema.Struct({
  sessionId: Schema.String,
  computer: ComputerName
})
export type SessionRef = typeof SessionRef.Type

export const Computer = Schema.Struct({
  name: ComputerName,
  version: Schema.String,
  startedAt: Schema.Number,
  lastSeen: Schema.Number,
  interestedIn: Schema.Array(Topic),
  /** Sessions of other computers whose live terminal this daemon's viewers watch: their owners stream them while listed. */
  terminals: Schema.optional(Schema.Array(SessionRef).pipe(Schema.maxItems(Limits.watchedTerminals)))
})
export type Computer = typeof Computer.Type

export const SessionStatus = Schema.Literal("running", "idle", "exited")
export type SessionStatus = typeof SessionStatus.Type

export const AgentName = Schema.Literal("claude", "codex", "gemini", "aider")
export type AgentName = typeof AgentName.Type

/**
 * What an agent is doing: `working`; `waiting` for the person (see
 * `WaitReason`); `done` (finished its turn, at its prompt); `exited`.
 */
export const AgentStateName = Schema.Literal("working", "waiting", "done", "exited")
export type AgentStateName = typeof AgentStateName.Type

export const WaitReason = Schema.Literal("permission", "question", "error")
export type WaitReason = typeof WaitReason.Type

/** A state with its reason: `reason` is set when, and only when, the state is `waiting`. */
export const AgentReading = Schema.Struct({
  state: AgentStateName,
  reason: Schema.NullOr(WaitReason)
})
export type AgentReading = typeof AgentReading.Type

/** An answer the agent offers on its screen: `keys` are typed into the pane, then Enter. */
export const AgentChoice = Schema.Struct({
  label: Schema.String.pipe(Schema.maxLength(120)),
  keys: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(8))
})
export type AgentChoice = typeof AgentChoice.Type

/** Where the state was read: the agent's hooks, its screen, or its process (started, exited). */
export const AgentSource = Schema.Literal("hook", "screen", "process")
export type AgentSource = typeof AgentSource.Type

export const AgentStatus = Schema.Struct({
  name: AgentName,
  ...AgentReading.fields,
  /** When it entered this state and reason (the owner's clock). */
  since: Schema.Number,
  /** One line: for a permission, the tool and what it asks; for a question, its text. */
  summary: Schema.String.pipe(Schema.maxLength(300)),
  source: AgentSource,
  /** For a permission or a numbered choice on screen: the answers, in order. */
  choices: Schema.Array(AgentChoice).pipe(Schema.maxItems(9)),
  /** What the screen shows when it contradicts the hooks (the state is then the hooks'); null when they agree. */
  conflict: Schema.NullOr(AgentReading)
})
export type AgentStatus = typeof AgentStatus.Type

export const Session = Schema.Struct({
  sessionId: Schema.String,
  computer: ComputerName,
  title: Schema.String,
  projectPath: Schema.NullOr(Schema.String),
  command: Schema.String,
  status: SessionStatus,
  createdAt: Schema.Number,
  lastActivity: Schema.Number,
  lastInput: Schema.NullOr(Schema.String),
  lastOutput: Schema.String,
  /** Absent when the session runs no known agent. */
  agent: Schema.optional(AgentStatus)
})
export type Session = typeof Session.Type

export const Project = Schema.Struct({
  computer: ComputerName,
  path: Schema.String,
  name: Schema.String
})
export type Project = typeof Project.Type

export const TodoStatus = Schema.Literal("pending", "ready", "in_progress", "done")
export type TodoStatus = typeof TodoStatus.Type

export const Todo = Schema.Struct({
  computer: ComputerName,
  projectPath: Schema.String,
  slug: Schema.String,
  title: Schema.String,
  status: TodoStatus
})
export type Todo = typeof Todo.Type

/** How long a cached value is served after it was last confirmed. */
export const Ttl = {
  computerMillis: 60_000,
  projectMillis: 5 * 60_000
} as const
