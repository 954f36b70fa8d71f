/**
 * Where the daemon listens and is reached: the host, port and public URL
 * flags' rules, the URL clients use, and the dashboard's address for links
 * (whether an address is this computer only: `Locations.ts`).
 */
import { Option, Schema } from "effect"
import { BlockList, isIPv6 } from "node:net"
import { hostname, networkInterfaces } from "node:os"
import { PlainDecimal } from "./Flag.js"
import { isIPv4 } from "./Locations.js"

const hostName = /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/

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

/** `http://127.0.0.1:7420`, `https://[::1]:7420` */
export const baseUrl = (options: { readonly tls: boolean; readonly host: string; readonly port: number }): string =>
  `${options.tls ? "https" : "http"}://${isIPv6(options.host) ? `[${options.host}]` : options.host}:${options.port}`

/**
 * The dashboard's address as people open it (a reverse proxy's, a DNS
 * name): absolute http(s), kept as the URL parser writes it. Links add a
 * fragment to it, so it has none, nor a query; nor a password, which would
 * travel in every link.
 */
export const PublicUrl = Schema.transform(
  Schema.String.pipe(Schema.filter((raw) => {
    const url = URL.canParse(raw) ? new URL(raw) : undefined
    return (url !== undefined && (url.protocol === "http:" || url.protocol === "https:") && url.search === "" && url.hash === "" &&
      url.username === "" && url.password === "") ||
      "expected an absolute http:// or https:// URL, without user, ?query or #fragment"
  })),
  Schema.String,
  { strict: true, decode: (raw) => new URL(raw).href, encode: (url) => url }
)

/** `0.0.0.0` or `::`: every interface, an address to listen on but not one to open. */
export const isEveryInterface = (host: string): boolean => host === "0.0.0.0" || host === "::"

const linkLocal = new BlockList()
linkLocal.addSubnet("fe80::", 10, "ipv6")

/**
 * The hosts a daemon listening on `host` is reached at: that host, or on
 * every interface loopback and each address of this computer's interfaces
 * (IPv6 ones on `::` only, which takes IPv4 too; link-local ones left out:
 * a URL needs their zone, which browsers refuse).
 */
export const reachableHosts = (
  host: string,
  interfaces: ReturnType<typeof networkInterfaces> = networkInterfaces()
): ReadonlyArray<string> => {
  if (!isEveryInterface(host)) return [host]
  const ipv6 = host === "::"
  const external = Object.values(interfaces).flatMap((addresses) =>
    (addresses ?? []).flatMap(({ address, family, internal }) =>
      !internal && (family === "IPv4" || (ipv6 && !linkLocal.check(address, "ipv6"))) ? [address] : []
    )
  )
  return [...(ipv6 ? ["127.0.0.1", "::1"] : ["127.0.0.1"]), ...external]
}

/**
 * Where people open this daemon's dashboard, without a trailing '/': the
 * public URL when given, else the address it listens on (`https` with TLS;
 * on every interface, this computer's name, which it answers to).
 */
export const dashboardUrl = (
  options: { readonly publicUrl: Option.Option<string>; readonly tls: boolean; readonly host: string; readonly port: number }
): string =>
  Option.match(options.publicUrl, {
    onSome: (url) => url.replace(/\/$/, ""),
    onNone: () => baseUrl({ ...options, host: isEveryInterface(options.host) ? hostname() : options.host })
  })
