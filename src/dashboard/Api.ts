/**
 * The daemon's REST API as the page calls it. The page's cookie carries the
 * token; a failure becomes an `Error` whose message is the daemon's own.
 */

export const api = async (method: "GET" | "POST" | "DELETE", path: string, body?: unknown): Promise<unknown> => {
  const init: RequestInit = body === undefined
    ? { method }
    : { method, headers: { "content-type": "application/json" }, body: JSON.stringify(body) }
  let response: Response
  try {
    response = await fetch(path, init)
  } catch {
    throw new Error("the daemon is not reachable")
  }
  const text = await response.text()
  let json: unknown = null
  try {
    json = text === "" ? null : JSON.parse(text)
  } catch {
    json = null
  }
  if (!response.ok) throw new Error(messageOf(json) ?? `HTTP ${response.status}`)
  return json
}

const messageOf = (json: unknown): string | undefined =>
  typeof json === "object" && json !== null && "message" in json && typeof json.message === "string"
    ? json.message
    : undefined

/** The name of the computer whose daemon served the page. */
export const selfName = async (): Promise<string> => {
  const health = await api("GET", "/health")
  if (typeof health === "object" && health !== null && "computer" in health && typeof health.computer === "string") {
    return health.computer
  }
  throw new Error("the daemon's /health did not name its computer")
}
