/**
 * The fragment of a dashboard address that opens a session as a live
 * terminal: `#session=<computer>/<id>`, each part URI-encoded. The daemon
 * puts it in its notifications' links, the dashboard in its "Open" links, and
 * the dashboard follows it when it loads and whenever it changes.
 */
import type { SessionRef } from "./Model.js"

export const sessionFragment = (ref: SessionRef): string =>
  `#session=${encodeURIComponent(ref.computer)}/${encodeURIComponent(ref.sessionId)}`

/** The session a fragment names; `undefined` for any other fragment. */
export const sessionOfFragment = (hash: string): SessionRef | undefined => {
  const match = /^#session=([^/]+)\/([^/]+)$/.exec(hash)
  if (match === null) return undefined
  try {
    return { computer: decodeURIComponent(match[1]!), sessionId: decodeURIComponent(match[2]!) }
  } catch {
    // A malformed escape (`%zz`): not a link this daemon wrote.
    return undefined
  }
}
