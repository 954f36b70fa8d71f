/** Test data. */
import type { Computer, Session, Topic } from "../../src/domain/Model.js"

export const makeSession = (computer: string, sessionId: string, overrides: Partial<Session> = {}): Session => ({
  sessionId,
  computer,
  title: `session ${sessionId}`,
  projectPath: null,
  command: "bash",
  status: "running",
  createdAt: 0,
  lastActivity: 0,
  lastInput: null,
  lastOutput: "",
  ...overrides
})

/** A computer as its heartbeat describes it. */
export const peerComputer = (name: string, interestedIn: ReadonlyArray<Topic> = []): Computer => ({
  name,
  version: "0.1.0",
  startedAt: 0,
  lastSeen: 0,
  interestedIn
})
