/**
 * Where a fleet's Redis is: one server (`redis://`, `rediss://` for TLS), or
 * a Sentinel deployment, `redis+sentinel://[[user]:password@]host[:port][,host[:port]...]/master`:
 * the Sentinels to ask (port 26379 unless given) and the name of the master
 * they watch, so the fleet follows a failover. The password, if any, is the
 * master's and its replicas'; Sentinels are asked without one.
 */
import { Either, Option } from "effect"

export interface SentinelAddress {
  readonly sentinels: ReadonlyArray<{ readonly host: string; readonly port: number }>
  readonly name: string
  readonly username: Option.Option<string>
  readonly password: Option.Option<string>
}

const SENTINEL_SCHEME = "redis+sentinel://"
const SENTINEL_URL = /^redis\+sentinel:\/\/(?:([^:@/]*):([^@/]*)@)?([^@/]+)\/([A-Za-z0-9._-]{1,64})$/
const SENTINEL_HOST = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]+))(?::(\d{1,5}))?$/
const DEFAULT_SENTINEL_PORT = 26379

export const REDIS_URL_RULE =
  "expected a Redis URL: redis://host:port, rediss://host:port (TLS) or redis+sentinel://host:port,host:port/master"

export const isSentinelUrl = (url: string): boolean => url.startsWith(SENTINEL_SCHEME)

/** A non-empty part of the URL's user information, percent-decoded. */
const userPart = (part: string | undefined): Either.Either<Option.Option<string>, string> => {
  if (part === undefined || part === "") return Either.right(Option.none())
  try {
    return Either.right(Option.some(decodeURIComponent(part)))
  } catch {
    return Either.left("a user name or password that is not percent-encoded")
  }
}

/** The Sentinels and master named by a `redis+sentinel://` URL, or why it names none. */
export const parseSentinelUrl = (url: string): Either.Either<SentinelAddress, string> => {
  const match = SENTINEL_URL.exec(url)
  if (match === null) return Either.left(`${REDIS_URL_RULE} (the master's name after the last '/')`)
  const [, user, password, hosts, name] = match
  const sentinels: Array<{ host: string; port: number }> = []
  for (const entry of hosts!.split(",")) {
    const host = SENTINEL_HOST.exec(entry)
    const port = Number(host?.[3] ?? DEFAULT_SENTINEL_PORT)
    if (host === null || port < 1 || port > 65535) return Either.left(`expected host:port for each Sentinel, not '${entry}'`)
    sentinels.push({ host: host[1] ?? host[2]!, port })
  }
  return Either.all({ username: userPart(user), password: userPart(password) }).pipe(
    Either.map(({ password, username }) => ({ sentinels, name: name!, username, password }))
  )
}

/** Whether `url` is a Redis address termfleet can use; why not, if it is not. */
export const checkRedisUrl = (url: string): Either.Either<string, string> =>
  isSentinelUrl(url)
    ? Either.map(parseSentinelUrl(url), () => url)
    : /^rediss?:\/\/./.test(url)
    ? Either.right(url)
    : Either.left(REDIS_URL_RULE)

/**
 * `url` as it may be shown (a refusal, a log): what stands between a `:` and
 * the last `@` before the path, a password in any URL-like text, as `***`.
 */
export const withoutPassword = (url: string): string => url.replace(/:[^/]*@/, ":***@")

/** Whether `url` carries a password (`scheme://[user]:password@...`). */
export const carriesPassword = (url: string): boolean => /^[a-z+]+:\/\/[^@/]*:[^@/]+@/.test(url)
