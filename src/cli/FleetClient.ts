/**
 * The command line's view of the daemon: calls of the same `FleetApi`
 * declaration the daemon serves, the token it presents, and what each way of
 * failing means to the user (and to the exit code).
 */
import type { HttpApi, HttpApiEndpoint, HttpApiGroup } from "@effect/platform"
import { FileSystem } from "@effect/platform"
import { Config, Effect, Option, Redacted, Schema } from "effect"
import { request as httpRequest } from "node:http"
import { FleetApi } from "../domain/Api.js"
import { Limits } from "../domain/Limits.js"
import { tokenEnv, tokenSource } from "../config/Locations.js"
import { readTrimmed } from "../config/StateDir.js"
import { SettingsError } from "../config/Settings.js"

/** A daemon to talk to, and the headers every request to it (REST or WebSocket) carries. */
export interface Daemon {
  readonly url: string
  readonly headers: Readonly<Record<string, string>>
}

/** The token for `url`, from where `tokenSource` says (the environment read through `Config`). */
export const findToken = (url: string): Effect.Effect<Option.Option<Redacted.Redacted<string>>, SettingsError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const env = yield* Effect.mapError(
      Config.all(Object.fromEntries(tokenEnv.map((name) => [name, Config.string(name).pipe(Config.option, Config.map(Option.getOrUndefined))]))),
      (error) => new SettingsError({ message: String(error) })
    )
    const source = tokenSource(url, env)
    switch (source._tag) {
      case "Given":
        return Option.some(Redacted.make(source.token))
      case "NamedFile": {
        const token = yield* readTrimmed(source.path).pipe(
          Effect.catchAll((error) => Effect.fail(error.message)),
          Effect.flatMap(Option.match({ onNone: () => Effect.fail("the file is missing or empty"), onSome: Effect.succeed })),
          Effect.mapError((reason) => new SettingsError({ message: `TERMFLEET_TOKEN_FILE ${JSON.stringify(source.path)}: ${reason}` }))
        )
        return Option.some(Redacted.make(token))
      }
      case "StateDir":
        return yield* readTrimmed(source.path).pipe(Effect.map(Option.map(Redacted.make)), Effect.orElseSucceed(Option.none))
      case "None":
        return Option.none()
    }
  })

/** The one place a request to the daemon gets its headers. */
export const requestHeaders = (token: Option.Option<Redacted.Redacted<string>>): Record<string, string> =>
  Option.match(token, {
    onNone: () => ({}),
    onSome: (value) => ({ authorization: `Bearer ${Redacted.value(value)}` })
  })

/** The daemon answered, with an error or with something this client does not understand. Exit 1. */
export class DaemonFailed extends Schema.TaggedError<DaemonFailed>()("DaemonFailed", { message: Schema.String }) {}

/** Nothing answered at the URL. Exit 3. */
export class DaemonUnreachable extends Schema.TaggedError<DaemonUnreachable>()("DaemonUnreachable", {
  url: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `cannot reach the daemon at ${this.url} (${this.reason}): is the daemon running? start it with: termfleet daemon`
  }
}

export type ClientFailure = DaemonFailed | DaemonUnreachable

/** An error the daemon answers with (the API's declared errors and its refusals) says why in its body. */
const ErrorBody = Schema.Struct({ message: Schema.String })
const decodeErrorBody = Schema.decodeUnknownOption(Schema.parseJson(ErrorBody))

type Groups = typeof FleetApi extends HttpApi.HttpApi<string, infer G, infer _E, infer _R> ? G : never
type GroupName = HttpApiGroup.HttpApiGroup.Name<Groups>
type EndpointOf<G extends GroupName, N extends string> = HttpApiEndpoint.HttpApiEndpoint.WithName<
  HttpApiGroup.HttpApiGroup.EndpointsWithName<Groups, G>,
  N
>
type Request<E extends HttpApiEndpoint.HttpApiEndpoint.Any> =
  & ([HttpApiEndpoint.HttpApiEndpoint.PathParsed<E>] extends [never] ? {} : { readonly path: HttpApiEndpoint.HttpApiEndpoint.PathParsed<E> })
  & ([HttpApiEndpoint.HttpApiEndpoint.UrlParams<E>] extends [never] ? {} : { readonly urlParams: HttpApiEndpoint.HttpApiEndpoint.UrlParams<E> })
  & ([HttpApiEndpoint.HttpApiEndpoint.Payload<E>] extends [never] ? {} : { readonly payload: HttpApiEndpoint.HttpApiEndpoint.Payload<E> })

/** What a call reads of an endpoint (its Schemas need no services). */
interface Endpoint {
  readonly path: string
  readonly method: string
  readonly pathSchema: Option.Option<Schema.Schema.AnyNoContext>
  readonly urlParamsSchema: Option.Option<Schema.Schema.AnyNoContext>
  readonly payloadSchema: Option.Option<Schema.Schema.AnyNoContext>
  readonly successSchema: Schema.Schema.AnyNoContext
}

interface Answer {
  readonly status: number
  readonly body: string
}

/**
 * One HTTP exchange over `node:http(s)`, without keeping the connection
 * alive (`agent: false`): the command exits as soon as its answer is read
 * (Node's `fetch` kept it half a second longer), and neither `fetch` nor
 * `HttpApiClient` is loaded.
 */
const exchange = (url: URL, method: string, headers: Record<string, string>, body: string | undefined) =>
  Effect.flatMap(
    // `node:https` (and TLS) load only for an https:// daemon.
    url.protocol === "https:" ? Effect.promise(() => import("node:https")).pipe(Effect.map((https) => https.request)) : Effect.succeed(httpRequest),
    (send) => exchangeWith(send, url, method, headers, body)
  )

const exchangeWith = (
  send: typeof httpRequest,
  url: URL,
  method: string,
  headers: Record<string, string>,
  body: string | undefined
) =>
  Effect.async<Answer, string>((resume) => {
    const request = send(url, { method, headers, agent: false }, (response) => {
      const chunks: Array<Buffer> = []
      let size = 0
      response.on("data", (chunk: Buffer) => {
        size += chunk.length
        if (size > Limits.clientAnswerBytes) request.destroy(new Error(`an answer over ${Limits.clientAnswerBytes} bytes`))
        else chunks.push(chunk)
      })
      response.on("end", () => resume(Effect.succeed({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") })))
      response.on("error", (error) => resume(Effect.fail(error.message)))
    })
    request.on("error", (error) => resume(Effect.fail(error.message)))
    request.end(body)
    return Effect.sync(() => request.destroy())
  })

const understood = (reason: string) => new DaemonFailed({ message: `the daemon's answer was not understood: ${reason.split("\n")[0]}` })

/**
 * Calls one endpoint of `FleetApi` (its path, method and Schemas, declared
 * once in `src/domain/Api.ts`): the request encoded and the answer decoded
 * with the endpoint's Schemas, failures translated for the user.
 */
export const call = <G extends GroupName, N extends string>(
  daemon: Daemon,
  group: G,
  name: N,
  request: Request<EndpointOf<G, N>>
): Effect.Effect<HttpApiEndpoint.HttpApiEndpoint.Success<EndpointOf<G, N>>, ClientFailure> =>
  Effect.gen(function*() {
    const endpoint = FleetApi.groups[group]!.endpoints[name]! as unknown as Endpoint
    const given = request as { readonly path?: unknown; readonly urlParams?: unknown; readonly payload?: unknown }
    const encode = (schema: Option.Option<Schema.Schema.AnyNoContext>, value: unknown) =>
      Option.match(schema, {
        onNone: () => Effect.succeed(undefined),
        onSome: (schema) =>
          Effect.mapError(Schema.encodeUnknown(schema)(value), (error) => new DaemonFailed({ message: error.message }))
      })
    const path = (yield* encode(endpoint.pathSchema, given.path)) as Record<string, string> | undefined
    const query = (yield* encode(endpoint.urlParamsSchema, given.urlParams)) as Record<string, string | undefined> | undefined
    const payload = yield* encode(endpoint.payloadSchema, given.payload)
    const url = new URL(endpoint.path.replace(/:(\w+)/g, (_, key: string) => encodeURIComponent(path?.[key] ?? "")), daemon.url)
    for (const [key, value] of Object.entries(query ?? {})) if (value !== undefined) url.searchParams.set(key, value)
    const body = payload === undefined ? undefined : JSON.stringify(payload)
    const headers = body === undefined ? { ...daemon.headers } : { ...daemon.headers, "content-type": "application/json" }
    const answer = yield* Effect.mapError(
      exchange(url, endpoint.method, headers, body),
      () => new DaemonUnreachable({ url: daemon.url, reason: "no answer" })
    )
    if (answer.status < 200 || answer.status > 299) {
      return yield* new DaemonFailed({
        message: Option.match(decodeErrorBody(answer.body), {
          onNone: () => `the daemon answered HTTP ${answer.status}`,
          onSome: (error) => error.message
        })
      })
    }
    const json = yield* Effect.try({ try: () => answer.body === "" ? undefined : JSON.parse(answer.body) as unknown, catch: () => understood("not JSON") })
    return yield* Effect.mapError(Schema.decodeUnknown(endpoint.successSchema)(json), (error) => understood(error.message))
  }) as Effect.Effect<HttpApiEndpoint.HttpApiEndpoint.Success<EndpointOf<G, N>>, ClientFailure>
