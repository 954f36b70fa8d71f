/**
 * The live connection to the daemon's `/ws`, reconnecting with capped
 * exponential backoff; the header shows its state.
 */
import { Either } from "effect"
import { type ClientMessage, decodeServerEvent, type ServerEvent } from "../domain/Protocol.js"
import { byTestId, setText } from "./Dom.js"

const BACKOFF_FIRST_MS = 250
const BACKOFF_MAX_MS = 5000
/** A socket still connecting after this is given up and tried again: a daemon that is starting may take a connection and not answer it yet. */
const CONNECT_TIMEOUT_MS = 3000

export interface ConnectionHandlers {
  /** Called on each (re)connection; `send` writes to this socket. */
  readonly opened: (send: (message: ClientMessage) => void) => void
  readonly event: (event: ServerEvent) => void
  readonly closed: () => void
}

const setState = (name: "live" | "reconnecting", label: string) => {
  const node = byTestId("connection")
  node.dataset["state"] = name
  setText(node, label)
}

/** A frame, decoded with the Schema the daemon encodes it with; one that does not decode is dropped. */
const parseFrame = (data: unknown): ServerEvent | undefined =>
  typeof data === "string" ? Either.getOrUndefined(decodeServerEvent(data)) : undefined

export const connect = (handlers: ConnectionHandlers): void => {
  let attempts = 0
  const open = () => {
    const socket = new WebSocket(`${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}/ws`)
    const giveUp = setTimeout(() => socket.close(), CONNECT_TIMEOUT_MS)
    socket.addEventListener("open", () => {
      clearTimeout(giveUp)
      attempts = 0
      setState("live", "live")
      handlers.opened((message) => socket.send(JSON.stringify(message)))
    })
    socket.addEventListener("message", (message) => {
      const event = parseFrame(message.data)
      if (event !== undefined) handlers.event(event)
    })
    socket.addEventListener("close", () => {
      clearTimeout(giveUp)
      const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** attempts)
      attempts += 1
      setState("reconnecting", "reconnecting…")
      handlers.closed()
      setTimeout(open, delay)
    })
  }
  open()
}
