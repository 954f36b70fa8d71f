/**
 * What the page knows of the fleet, kept from the `/ws` frames: each
 * `*_initial` frame replaces a part, every other event patches it.
 */
import type { Project, Session, Todo } from "../domain/Model.js"
import type { ServerEvent } from "../domain/Protocol.js"

/** A computer is shown offline this long after the page last heard of it. */
const OFFLINE_AFTER_MS = 60_000

export interface FleetState {
  /** The computer whose daemon served the page (from `/health`). */
  self: string | undefined
  connected: boolean
  /** The fleet's sessions have been listed (`sessions_initial`): a session missing from them is not merely on its way. */
  listed: boolean
  /** keyOf(computer, sessionId) → session */
  sessions: Map<string, Session>
  /** `heardAt` is this page's clock: a computer's `lastSeen` is stamped by its own, maybe skewed, clock. */
  computers: Map<string, { heardAt: number; removed: boolean }>
  projects: Map<string, ReadonlyArray<Project>>
  todos: Map<string, ReadonlyArray<Todo>>
}

export const emptyState = (): FleetState => ({
  self: undefined,
  connected: false,
  listed: false,
  sessions: new Map(),
  computers: new Map(),
  projects: new Map(),
  todos: new Map()
})

export const keyOf = (...parts: ReadonlyArray<string | null>): string => JSON.stringify(parts)

export const groupByComputer = <A extends { readonly computer: string }>(
  items: Iterable<A>
): Map<string, Array<A>> => {
  const groups = new Map<string, Array<A>>()
  for (const item of items) {
    const group = groups.get(item.computer)
    if (group === undefined) groups.set(item.computer, [item])
    else group.push(item)
  }
  return groups
}

/** What an event asks of the page besides the new state. */
export type Applied = { readonly _tag: "changed" } | { readonly _tag: "unchanged" } | { readonly _tag: "error"; readonly message: string }

const changed: Applied = { _tag: "changed" }

export const applyEvent = (state: FleetState, frame: ServerEvent, now: number): Applied => {
  const heard = (name: string) => state.computers.set(name, { heardAt: now, removed: false })
  switch (frame.event) {
    case "sessions_initial":
      state.sessions = new Map(frame.data.sessions.map((s) => [keyOf(s.computer, s.sessionId), s]))
      state.listed = true
      state.computers = new Map()
      for (const computer of frame.data.computers) heard(computer.name)
      return changed
    case "session_updated":
      state.sessions.set(keyOf(frame.data.computer, frame.data.sessionId), frame.data)
      return changed
    case "session_removed":
      state.sessions.delete(keyOf(frame.data.computer, frame.data.sessionId))
      return changed
    case "computer_updated":
      heard(frame.data.name)
      return changed
    case "computer_removed": {
      const known = state.computers.get(frame.data.name)
      if (known !== undefined) known.removed = true
      for (const [key, s] of state.sessions) if (s.computer === frame.data.name) state.sessions.delete(key)
      return changed
    }
    case "preparation_initial":
      state.projects = groupByComputer(frame.data.projects)
      state.todos = groupByComputer(frame.data.todos)
      return changed
    case "projects_updated":
      state.projects.set(frame.data.computer, frame.data.projects)
      return changed
    case "todos_updated":
      state.todos.set(frame.data.computer, frame.data.todos)
      return changed
    case "error":
      return { _tag: "error", message: frame.data.message }
    case "pong":
    case "terminal_snapshot":
    case "terminal_output":
    case "terminal_resized":
    case "terminal_closed":
      return { _tag: "unchanged" }
  }
}

export const isOnline = (state: FleetState, name: string, now: number): boolean => {
  if (!state.connected) return false
  if (name === state.self) return true
  const entry = state.computers.get(name)
  return entry !== undefined && !entry.removed && now - entry.heardAt <= OFFLINE_AFTER_MS
}

/** "name (path)" for a known project, the path alone otherwise. */
export const projectName = (state: FleetState, computer: string, path: string | null): string => {
  if (path === null) return "no project"
  const known = state.projects.get(computer)?.find((p) => p.path === path)
  return known === undefined ? path : `${known.name} (${path})`
}
