/**
 * The names the daemon answers to, checked against every request's `Host`
 * (DNS rebinding): a page of evil.example whose name an attacker makes
 * resolve to 127.0.0.1 is, to the browser, the page's own origin, so the
 * Origin check lets it through; but its requests carry
 * `Host: evil.example:PORT`. Like notebook servers, only the loopback names,
 * the configured host and, when bound to every interface, this computer's
 * addresses (IP literals, which no one can rebind) and host name are
 * answered, on the port listened on; and the host of the public URL
 * (`--public-url`), as browsers opening it send it.
 */
import { isIP } from "node:net"
import { hostname } from "node:os"
import { isEveryInterface } from "../config/Address.js"

/** `::1` as a Host header writes it: `[::1]`. */
const asHostName = (host: string): string => (isIP(host) === 6 ? `[${host}]` : host).toLowerCase()

/** `name[:port]`, the name lower-cased; `undefined` when it is not of that shape. */
const splitHost = (header: string): { readonly name: string; readonly port: number | undefined } | undefined => {
  const match = /^(\[[0-9a-f:.]+\]|[^:[\]]+)(?::(\d{1,5}))?$/i.exec(header)
  if (match === null) return undefined
  return { name: match[1]!.toLowerCase(), port: match[2] === undefined ? undefined : Number(match[2]) }
}

const isIpLiteral = (name: string) => isIP(name.startsWith("[") ? name.slice(1, -1) : name) !== 0

export interface HostCheck {
  readonly allowed: (header: string | undefined) => boolean
  /** The names answered to, for the message of a refusal. */
  readonly described: string
}

export const hostCheck = (configuredHost: string, port: number, publicUrl: string | undefined): HostCheck => {
  const configured = asHostName(configuredHost)
  const everyInterface = isEveryInterface(configuredHost)
  const names = new Set(["127.0.0.1", "localhost", "[::1]", ...(everyInterface ? [hostname().toLowerCase()] : [configured])])
  // Browsers leave out the port when it is the scheme's default.
  const portMatches = (given: number | undefined) => given === port || (given === undefined && (port === 80 || port === 443))
  // The operator's name for this daemon, on the port its URL says (a proxy's, often): its DNS is theirs, not an attacker's.
  const published = publicUrl === undefined ? undefined : new URL(publicUrl).host
  return {
    allowed: (header) => {
      if (published !== undefined && header?.toLowerCase() === published) return true
      const host = header === undefined ? undefined : splitHost(header)
      return host !== undefined && portMatches(host.port) &&
        (names.has(host.name) || (everyInterface && isIpLiteral(host.name)))
    },
    described: [...names].map((name) => `${name}:${port}`).join(", ") +
      (everyInterface ? ` or any address of this computer on port ${port}` : "") +
      (published === undefined ? "" : `, and ${published} (--public-url)`)
  }
}
