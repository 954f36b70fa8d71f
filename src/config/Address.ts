/**
 * Where the daemon listens: the host and port flags' rules, whether an
 * address is this computer only (loopback), and the URL clients use.
 */
import { Schema } from "effect"
import { BlockList, isIPv6 } from "node:net"
import { PlainDecimal } from "./Flag.js"

const hostName = /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/
const isIPv4 = (text: string) => /^\d{1,3}(\.\d{1,3}){3}$/.test(text) && text.split(".").every((part) => Number(part) <= 255)

/**
 * An IPv4 address, an IPv6 address with or without brackets (kept without),
 * or a host name. Never empty: an empty host would listen on every interface.
 */
export const Host = Schema.transform(
  Schema.String.pipe(Schema.filter((raw) => {
    const bare = raw.startsWith("[") && raw.endsWith("]") ? raw.slice(1, -1) : raw
    return isIPv4(bare) || isIPv6(bare) || (!/^[\d.]+$/.test(raw) && hostName.test(raw)) ||
      "expected an IPv4 address, an IPv6 address (brackets optional) or a host name"
  })),
  Schema.String,
  { strict: true, decode: (raw) => raw.replace(/^\[(.*)\]$/, "$1"), encode: (host) => (isIPv6(host) ? `[${host}]` : host) }
)

/** Plain decimal, so `0x4e21`, `2e4` or ` 20002 ` are refused rather than read as something else. `0`: any free port. */
export const Port = PlainDecimal.pipe(
  Schema.compose(Schema.Int.pipe(Schema.between(0, 65535))),
  Schema.annotations({ message: () => "expected a port: a plain decimal number from 0 to 65535" })
)

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

/** `http://127.0.0.1:7420`, `https://[::1]:7420` */
export const baseUrl = (options: { readonly tls: boolean; readonly host: string; readonly port: number }): string =>
  `${options.tls ? "https" : "http"}://${isIPv6(options.host) ? `[${options.host}]` : options.host}:${options.port}`
