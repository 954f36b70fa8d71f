/**
 * Cuts an agent's hook payload to fit what the hook command sends
 * (`HOOK_PAYLOAD_BYTES`), in plain TypeScript (`dist/hook.js` loads it).
 * Claude Code's payloads can be megabytes (a `PostToolUse` carries the
 * tool's whole output; a `Stop`, the whole last message), while the daemon
 * reads the start of a text (a summary: its first line, a few hundred
 * characters at most) and the last line of a last message. So, until the
 * payload fits, every long string keeps its start and its end, and every
 * long array its first and last items: each field keeps its type, so the
 * payload still decodes, and says what the whole one would have said.
 */

/** Where a string was cut: a line of its own, so the last line of what is kept is one of the original's. */
const CUT = "\n…\n"

/** Characters kept at each end of a string, then fewer until it fits; never below the longest summary (`Limits.summaryChars`, 200). */
const FIRST_CHARS = 4096
const FLOOR_CHARS = 256
/** Items kept at each end of an array, likewise. */
const FIRST_ITEMS = 64

const isHighSurrogate = (code: number) => code >= 0xd800 && code <= 0xdbff
/** The first or last `chars` of `text`, one fewer rather than half a surrogate pair. */
const headOf = (text: string, chars: number) => text.slice(0, isHighSurrogate(text.charCodeAt(chars - 1)) ? chars - 1 : chars)
const tailOf = (text: string, chars: number) => {
  const from = text.length - chars
  return text.slice(isHighSurrogate(text.charCodeAt(from - 1)) ? from + 1 : from)
}

const shrink = (value: unknown, chars: number, items: number): unknown => {
  if (typeof value === "string") {
    return value.length > 2 * chars + CUT.length ? `${headOf(value, chars)}${CUT}${tailOf(value, chars)}` : value
  }
  if (Array.isArray(value)) {
    const kept = value.length > 2 * items ? [...value.slice(0, items), ...value.slice(-items)] : value
    return kept.map((item) => shrink(item, chars, items))
  }
  if (typeof value === "object" && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, shrink(item, chars, items)]))
  }
  return value
}

/** `payload` itself when it fits in `maxBytes`, else cut to fit; `null` when it is not JSON or cannot be cut enough. */
export const fitPayload = (payload: string, maxBytes: number): string | null => {
  if (Buffer.byteLength(payload) <= maxBytes) return payload
  let json: unknown
  try {
    json = JSON.parse(payload)
  } catch {
    return null
  }
  for (let chars = FIRST_CHARS, items = FIRST_ITEMS; chars >= FLOOR_CHARS; chars /= 2, items = Math.max(1, items / 2)) {
    const cut = JSON.stringify(shrink(json, chars, items))
    if (Buffer.byteLength(cut) <= maxBytes) return cut
  }
  return null
}
