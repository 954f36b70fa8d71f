/**
 * The command line's view of the daemon: a client typed by the same `FleetApi`
 * declaration the daemon serves, the token it presents, and what each way of
 * failing means to the user (and to the exit code).
 */
import { FetchHttpClient, FileSystem, HttpApiClient, HttpClient, HttpClientRequest } from "@effect/platform"
import { Config, Effect, Option, Redacted, Schema } from "effect"
import { FleetApi } from "../domain/Api.js"
import { isLoopbackHost } from "../config/Address.js"
import { readToken, readTrimmed, stateDirConfig } from "../config/StateDir.js"
import { SettingsError } from "../config/Settings.js"

/** A daemon to talk to, and the headers every request to it (REST or WebSocket) carries. */
export interface Daemon {
  readonly url: string
  readonly headers: Readonly<Record<string, string>>
}

/** Whether `url` names this computer: only then is this computer's token sent without being asked for. */
export const isLoopbackUrl = (url: string): boolean => URL.canParse(url) && isLoopbackHost(new URL(url).hostname)

const setting = (name: string) =>
  Config.string(name).pipe(Config.option, Config.map(Option.filter((value) => value !== "")))

/**
 * `TERMFLEET_TOKEN`, else the file `TERMFLEET_TOKEN_FILE` names, else, for
 * a daemon on this computer, the token it keeps in its state folder
 * (`TERMFLEET_STATE_DIR`, or the default one): that token is never sent to
 * another computer. With none, the request goes without, and the daemon's
 * refusal says what is missing.
 */
export const findToken = (url: string): Effect.Effect<Option.Option<Redacted.Redacted<string>>, SettingsError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const [given, file] = yield* Effect.mapError(
      Config.all([setting("TERMFLEET_TOKEN"), setting("TERMFLEET_TOKEN_FILE")]),
      (error) => new SettingsError({ message: String(error) })
    )
    if (Option.isSome(given)) return Option.some(Redacted.make(given.value))
    if (Option.isSome(file)) {
      const token = yield* readTrimmed(file.value).pipe(
        Effect.catchAll((error) => Effect.fail(error.message)),
        Effect.flatMap(Option.match({ onNone: () => Effect.fail("the file is missing or empty"), onSome: Effect.succeed })),
        Effect.mapError((reason) => new SettingsError({ message: `TERMFLEET_TOKEN_FILE ${JSON.stringify(file.value)}: ${reason}` }))
      )
      return Option.some(Redacted.make(token))
    }
    if (!isLoopbackUrl(url)) return Option.none()
    return yield* stateDirConfig.pipe(
      Effect.flatMap(readToken),
      Effect.map(Option.map(Redacted.make)),
      Effect.orElseSucceed(Option.none)
    )
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

type CallError =
  | { readonly _tag: "RequestError"; readonly reason: string; readonly message: string }
  | { readonly _tag: "ResponseError"; readonly response: { readonly status: number; readonly json: Effect.Effect<unknown, unknown> } }
  | { readonly _tag: "ParseError"; readonly message: string }
  | { readonly _tag: "NotFound" | "InvalidInput" | "PeerTimeout" | "TerminalFailed" | "HttpApiDecodeError"; readonly message: string }

/** An error the API does not declare (a refused token, say) still says why in its body. */
const ErrorBody = Schema.Struct({ message: Schema.String })

/** Every error a `FleetApi` call can fail with, as the user is told it. */
const toClientFailure = (url: string) => (error: CallError): Effect.Effect<never, ClientFailure> => {
  switch (error._tag) {
    case "RequestError":
      return new DaemonUnreachable({ url, reason: error.reason === "Transport" ? "no answer" : error.message })
    case "ResponseError":
      return error.response.json.pipe(
        Effect.flatMap(Schema.decodeUnknown(ErrorBody)),
        Effect.match({
          onFailure: () => `the daemon answered HTTP ${error.response.status}`,
          onSuccess: (body) => body.message
        }),
        Effect.flatMap((message) => new DaemonFailed({ message }))
      )
    case "ParseError":
      return new DaemonFailed({ message: `the daemon's answer was not understood: ${error.message.split("\n")[0]}` })
    default:
      return new DaemonFailed({ message: error.message })
  }
}

const fleetClient = (daemon: Daemon) =>
  HttpApiClient.make(FleetApi, {
    baseUrl: daemon.url,
    transformClient: HttpClient.mapRequest(HttpClientRequest.setHeaders(daemon.headers))
  }).pipe(Effect.provide(FetchHttpClient.layer))

type FleetClient = Effect.Effect.Success<ReturnType<typeof fleetClient>>

/** Runs one call of the client, its failures translated for the user. */
export const call = <A>(
  daemon: Daemon,
  request: (client: FleetClient) => Effect.Effect<A, CallError>
): Effect.Effect<A, ClientFailure> =>
  Effect.flatMap(fleetClient(daemon), (client) => Effect.catchAll(request(client), toClientFailure(daemon.url)))
