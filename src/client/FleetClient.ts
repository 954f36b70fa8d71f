/**
 * The command line's view of the daemon: a client typed by the same `FleetApi`
 * declaration the daemon serves, and what each way of failing means to the
 * user (and to the exit code).
 */
import { FetchHttpClient, HttpApiClient, HttpClient, HttpClientRequest } from "@effect/platform"
import { Data, Effect } from "effect"
import { FleetApi } from "../Api.js"

/**
 * The one place a request to the daemon (REST or WebSocket) gets its headers.
 * The token (issue 6) will be read from the state folder and added here.
 */
export const requestHeaders = (): Record<string, string> => ({})

/** The daemon answered, with an error or with something this client does not understand. Exit 1. */
export class DaemonFailed extends Data.TaggedError("DaemonFailed")<{ readonly message: string }> {}

/** Nothing answered at the URL. Exit 3. */
export class DaemonUnreachable extends Data.TaggedError("DaemonUnreachable")<{ readonly url: string; readonly reason: string }> {
  override get message() {
    return `cannot reach the daemon at ${this.url} (${this.reason}): is the daemon running? start it with: termfleet daemon`
  }
}

export type ClientFailure = DaemonFailed | DaemonUnreachable

type CallError =
  | { readonly _tag: "RequestError"; readonly reason: string; readonly message: string }
  | { readonly _tag: "ResponseError"; readonly response: { readonly status: number } }
  | { readonly _tag: "ParseError"; readonly message: string }
  | { readonly _tag: "NotFound" | "InvalidInput" | "PeerTimeout" | "TerminalFailed" | "HttpApiDecodeError"; readonly message: string }

/** Every error a `FleetApi` call can fail with, as the user is told it. */
export const toClientFailure = (url: string) => (error: CallError): ClientFailure => {
  switch (error._tag) {
    case "RequestError":
      return new DaemonUnreachable({ url, reason: error.reason === "Transport" ? "no answer" : error.message })
    case "ResponseError":
      return new DaemonFailed({ message: `the daemon answered HTTP ${error.response.status}` })
    case "ParseError":
      return new DaemonFailed({ message: `the daemon's answer was not understood: ${error.message.split("\n")[0]}` })
    default:
      return new DaemonFailed({ message: error.message })
  }
}

export const fleetClient = (url: string) =>
  HttpApiClient.make(FleetApi, {
    baseUrl: url,
    transformClient: HttpClient.mapRequest(HttpClientRequest.setHeaders(requestHeaders()))
  }).pipe(Effect.provide(FetchHttpClient.layer))

export type FleetClient = Effect.Effect.Success<ReturnType<typeof fleetClient>>

/** Runs one call of the client, its failures translated for the user. */
export const call = <A>(
  url: string,
  request: (client: FleetClient) => Effect.Effect<A, CallError>
): Effect.Effect<A, ClientFailure> =>
  Effect.flatMap(fleetClient(url), (client) => Effect.mapError(request(client), toClientFailure(url)))
