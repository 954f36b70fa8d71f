/**
 * Refuses a WebSocket message larger than the limit as soon as the header of
 * its frame arrives, before its payload is read into memory.
 *
 * Why here: `ws` hands over a message only once all of it is buffered, so a
 * check on the message comes after the memory is spent. (The hub's `ws`
 * server keeps `ws`'s default `maxPayload`, 100 MiB: this guard is the limit.)
 *
 * How: frame headers (RFC 6455 §5.2) carry the payload length up front. The
 * guard is armed on the upgraded socket before `ws` takes it over, and puts
 * itself first among the socket's `data` listeners when `ws` adds its own,
 * so it reads every byte before `ws` does. It follows frame boundaries,
 * skipping payloads, and sums the fragments of a message as `ws` would.
 */
import type { Duplex } from "node:stream"
import { CloseCode } from "./WebSocketHub.js"

/** How long a refused client is given to read its close frame before the connection is cut. */
const GRACE_MILLIS = 1000

/**
 * Follows the frames of a byte stream, chunk by chunk; answers `false` once
 * a message (all its fragments) is announced to be longer than `maxBytes`.
 */
export const frameSizeCheck = (maxBytes: number): (chunk: Uint8Array) => boolean => {
  const header = new Uint8Array(14)
  let headerBytes = 0
  /** Payload bytes of the current frame still to skip. */
  let payloadLeft = 0
  /** Bytes of the current data message so far (its earlier fragments). */
  let messageBytes = 0

  const headerLength = () => {
    const short = header[1]! & 0x7f
    return 2 + (short === 126 ? 2 : short === 127 ? 8 : 0) + (header[1]! & 0x80 ? 4 : 0)
  }
  const payloadLength = () => {
    const short = header[1]! & 0x7f
    const view = new DataView(header.buffer)
    // 2^53 and more is past any limit anyway: the imprecision cannot let a frame through.
    return short === 126 ? view.getUint16(2) : short === 127 ? view.getUint32(2) * 2 ** 32 + view.getUint32(6) : short
  }

  return (chunk) => {
    let at = 0
    while (at < chunk.length) {
      if (payloadLeft > 0) {
        const skipped = Math.min(payloadLeft, chunk.length - at)
        payloadLeft -= skipped
        at += skipped
        continue
      }
      header[headerBytes++] = chunk[at++]!
      if (headerBytes < 2 || headerBytes < headerLength()) continue
      headerBytes = 0
      const length = payloadLength()
      const final = (header[0]! & 0x80) !== 0
      const control = (header[0]! & 0x08) !== 0
      // Control frames (close, ping, pong) may come between fragments and are not part of the message.
      const announced = control ? length : messageBytes + length
      if (announced > maxBytes) return false
      if (!control) messageBytes = final ? 0 : announced
      payloadLeft = length
    }
    return true
  }
}

/** A close frame from the server (unmasked) with its code and reason. */
const closeFrame = (code: number, reason: string): Buffer => {
  const text = Buffer.from(reason).subarray(0, 123)
  const frame = Buffer.alloc(4 + text.length)
  frame[0] = 0x88
  frame[1] = 2 + text.length
  frame.writeUInt16BE(code, 2)
  text.copy(frame, 4)
  return frame
}

/**
 * Arms the guard on a socket about to be upgraded. A message over
 * `maxBytes` gets a close frame (1009) at once, and nothing more is read
 * from the client (`ws` gets no more bytes); the connection is cut a second
 * later.
 */
export const limitFrames = (socket: Duplex, maxBytes: number): void => {
  const fits = frameSizeCheck(maxBytes)
  const onNewListener = (event: string | symbol, wsListener: (...args: Array<any>) => void) => {
    if (event !== "data") return
    socket.off("newListener", onNewListener)
    const onData = (chunk: Buffer) => {
      if (fits(chunk)) return
      // `ws` still gets this chunk (the listeners of an event are fixed when it is emitted): at most one read.
      socket.off("data", onData)
      socket.off("data", wsListener)
      socket.pause()
      socket.end(closeFrame(CloseCode.tooBig, `messages are limited to ${maxBytes} bytes`))
      const cutOff = setTimeout(() => socket.destroy(), GRACE_MILLIS)
      socket.once("close", () => clearTimeout(cutOff))
    }
    socket.prependListener("data", onData)
  }
  socket.on("newListener", onNewListener)
}
