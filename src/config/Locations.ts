/**
 * Where a client finds its daemon and the token to show it, in plain
 * TypeScript (no Effect), shared by the command line and the hook command
 * (`dist/hook.js`, which must load nothing heavy): the default URL, whether
 * a URL is this computer, the state folder and which token goes where.
 */
import { BlockList, isIPv6 } from "node:net"
import { homedir } from "node:os"
import { join } from "node:path"

export const DEFAULT_URL = "http://127.0.0.1:7420"

type Env = Readonly<Record<string, string | undefined>>

export const isIPv4 = (text: string) => /^\d{1,3}(\.\d{1,3}){3}$/.test(text) && text.split(".").every((part) => Number(part) <= 255)

const loopback = new BlockList()
loopback.addSubnet("127.0.0.0", 8, "ipv4")
loopback.addAddress("::1", "ipv6")
loopback.addSubnet("::ffff:127.0.0.0", 104, "ipv6")

/** Whether only this computer can reach `host` (a `URL.hostname` is fine: IPv6 in brackets). */
export const isLoopbackHost = (host: string): boolean => {
  const bare = host.replace(/^\[(.*)\]$/, "$1")
  if (bare === "localhost") return true
  if (isIPv4(bare)) return loopback.check(bare, "ipv4")
  return isIPv6(bare) && loopback.check(bare, "ipv6")
}

/** Whether `url` names this computer: only then is this computer's token sent without being asked for. */
export const isLoopbackUrl = (url: string): boolean => URL.canParse(url) && isLoopbackHost(new URL(url).hostname)

/** `TERMFLEET_STATE_DIR`, else `$XDG_STATE_HOME/termfleet`, else `~/.local/state/termfleet` (empty values count as unset). */
export const stateDirIn = (env: Env): string =>
  env["TERMFLEET_STATE_DIR"] || join(env["XDG_STATE_HOME"] || join(homedir(), ".local", "state"), "termfleet")

export const tokenFile = (stateDir: string) => join(stateDir, "token")

/**
 * Where the token for `url` comes from: `TERMFLEET_TOKEN`, else the file
 * `TERMFLEET_TOKEN_FILE` names (it must be there), else, for a daemon on
 * this computer, the one in its state folder (if there); that one is never
 * sent to another computer. With none, the request goes without, and the
 * daemon's refusal says what is missing.
 */
export type TokenSource =
  | { readonly _tag: "Given"; readonly token: string }
  | { readonly _tag: "NamedFile"; readonly path: string }
  | { readonly _tag: "StateDir"; readonly path: string }
  | { readonly _tag: "None" }

export const tokenSource = (url: string, env: Env): TokenSource => {
  const given = env["TERMFLEET_TOKEN"]
  if (given) return { _tag: "Given", token: given }
  const file = env["TERMFLEET_TOKEN_FILE"]
  if (file) return { _tag: "NamedFile", path: file }
  return isLoopbackUrl(url) ? { _tag: "StateDir", path: tokenFile(stateDirIn(env)) } : { _tag: "None" }
}

/** The names `tokenSource` reads, for a client that reads its environment through Effect's `Config`. */
export const tokenEnv = ["TERMFLEET_TOKEN", "TERMFLEET_TOKEN_FILE", "TERMFLEET_STATE_DIR", "XDG_STATE_HOME"] as const
