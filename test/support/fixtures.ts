/** Test data. */
import type { Session } from "../../src/Domain.js"

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
