/** What a WebSocket client shows, rebuilt from the frames it received. */
import type { Frame } from "./WsClient.js"

/** The sessions of `computer` a client holding `frames` shows, sorted by id. */
export const viewOf = (frames: ReadonlyArray<Frame>, computer: string): ReadonlyArray<any> => {
  const sessions = new Map<string, any>()
  for (const frame of frames) {
    switch (frame.event) {
      case "sessions_initial":
        sessions.clear()
        for (const s of frame.data.sessions) if (s.computer === computer) sessions.set(s.sessionId, s)
        break
      case "session_updated":
        if (frame.data.computer === computer) sessions.set(frame.data.sessionId, frame.data)
        break
      case "session_removed":
        if (frame.data.computer === computer) sessions.delete(frame.data.sessionId)
        break
      case "computer_removed":
        if (frame.data.name === computer) sessions.clear()
        break
    }
  }
  return [...sessions.values()].sort((a, b) => a.sessionId.localeCompare(b.sessionId))
}
