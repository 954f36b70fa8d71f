/**
 * tmux key names (as `send-keys` takes them: `C-c`, `Enter`, `Up`, `M-x`,
 * `F5`...) turned into the bytes a terminal sends for them, for
 * `termfleet send --keys`. A name that is one character is that character.
 */
import { Either } from "effect"

const named: Readonly<Record<string, string>> = {
  Enter: "\r",
  Escape: "\u001b",
  Tab: "\t",
  BTab: "\u001b[Z",
  BSpace: "\u007f",
  Space: " ",
  Up: "\u001b[A",
  Down: "\u001b[B",
  Right: "\u001b[C",
  Left: "\u001b[D",
  Home: "\u001b[1~",
  End: "\u001b[4~",
  IC: "\u001b[2~",
  Insert: "\u001b[2~",
  DC: "\u001b[3~",
  Delete: "\u001b[3~",
  PPage: "\u001b[5~",
  PageUp: "\u001b[5~",
  PgUp: "\u001b[5~",
  NPage: "\u001b[6~",
  PageDown: "\u001b[6~",
  PgDn: "\u001b[6~",
  F1: "\u001bOP",
  F2: "\u001bOQ",
  F3: "\u001bOR",
  F4: "\u001bOS",
  F5: "\u001b[15~",
  F6: "\u001b[17~",
  F7: "\u001b[18~",
  F8: "\u001b[19~",
  F9: "\u001b[20~",
  F10: "\u001b[21~",
  F11: "\u001b[23~",
  F12: "\u001b[24~"
}

/** Ctrl with a character: its control code (C-a = 0x01, C-[ = Esc, C-? = DEL, C-Space = NUL). */
const control = (char: string): string | undefined => {
  if (char === "?") return "\u007f"
  if (char === "Space" || char === "@" || char === " ") return "\u0000"
  if (char.length !== 1) return undefined
  const code = char.toUpperCase().charCodeAt(0)
  return code >= 0x40 && code <= 0x5f ? String.fromCharCode(code - 0x40) : undefined
}

export const keyBytes = (name: string): Either.Either<string, string> => {
  const known = named[name]
  if (known !== undefined) return Either.right(known)
  const modified = /^(C|M)-(.+)$/.exec(name)
  if (modified !== null) {
    const [, modifier, rest = ""] = modified
    const base = modifier === "C" ? control(rest) : (named[rest] ?? ([...rest].length === 1 ? rest : undefined))
    if (base !== undefined) return Either.right(modifier === "M" ? `\u001b${base}` : base)
  }
  return [...name].length === 1 ? Either.right(name) : Either.left(`unknown key name '${name}'`)
}
