/**
 * How long keys live after their last write, so a computer that left the
 * fleet for good leaves nothing behind in Redis. A daemon's own keys are
 * written again as long as anything happens; peers stop writing to a
 * daemon 60 s after its last heartbeat.
 */
export const Retention = {
  /** `events:` streams and `cursor:` keys: a week without a write. */
  eventsMillis: 7 * 24 * 3_600_000,
  /** `requests:` streams and their cursors: requests are dropped seconds after their deadline anyway. */
  requestsMillis: 3_600_000,
  /** `terminal:` streams: written while a peer watches; a viewer that is gone longer gets a fresh snapshot anyway. */
  paneMillis: 60_000
} as const

/** Every Redis key termfleet uses, under one prefix so fleets and test runs can share a Redis. */
export interface RedisKeys {
  /** The Computer JSON of a daemon, expiring 60 s after its last heartbeat. */
  readonly computer: (name: string) => string
  /** Sorted set of computer names (score: last heartbeat), for discovery without `KEYS`. */
  readonly computers: string
  /** The event stream a daemon reads; peers XADD to it. */
  readonly events: (name: string) => string
  /** The last event id a daemon has applied, so it resumes there after a restart. */
  readonly cursor: (name: string) => string
  /** Requests to a daemon (create, input, end, output). */
  readonly requests: (name: string) => string
  readonly requestsCursor: (name: string) => string
  /** Answers to a daemon's requests, each naming its request; expires shortly after the last one is written. */
  readonly replies: (name: string) => string
  /** The live terminal of one session, written by its owner while peers watch it: snapshots, output, sizes. */
  readonly pane: (computer: string, sessionId: string) => string
  /** Keys, sizes and asks for snapshots for a daemon's live terminals, from its peers' viewers, in order. */
  readonly terminalInput: (name: string) => string
  readonly terminalInputCursor: (name: string) => string
}

export const redisKeys = (prefix: string): RedisKeys => ({
  computer: (name) => `${prefix}computer:${name}`,
  computers: `${prefix}computers`,
  events: (name) => `${prefix}events:${name}`,
  cursor: (name) => `${prefix}cursor:${name}`,
  requests: (name) => `${prefix}requests:${name}`,
  requestsCursor: (name) => `${prefix}requests-cursor:${name}`,
  replies: (name) => `${prefix}replies:${name}`,
  pane: (computer, sessionId) => `${prefix}terminal:${computer}:${sessionId}`,
  terminalInput: (name) => `${prefix}terminal-input:${name}`,
  terminalInputCursor: (name) => `${prefix}terminal-input-cursor:${name}`
})
