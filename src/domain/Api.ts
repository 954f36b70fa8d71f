/**
 * The REST API, declared once with `@effect/platform`'s HttpApi: the server
 * implements it (`HttpRoutes.ts`), the command line calls it, and its OpenAPI
 * document is served at `/openapi.json`.
 */
import { HttpApi, HttpApiEndpoint, HttpApiGroup, HttpApiSchema } from "@effect/platform"
import { Schema } from "effect"
import { InputText, Limits, OutputLines } from "./Limits.js"
import { Computer, Project, Session, Todo } from "./Model.js"
import { CreateSessionBody } from "./PeerRequest.js"

/** How the daemon sees Redis: `degraded` answers reads but refuses writes (full: `maxmemory` with `noeviction`). */
export const RedisState = Schema.Literal("local-only", "connecting", "connected", "degraded", "unreachable")
export type RedisState = typeof RedisState.Type

export const Health = Schema.Struct({
  status: Schema.Literal("ok"),
  computer: Schema.String,
  version: Schema.String,
  redis: RedisState,
  peers: Schema.Number,
  clients: Schema.Number,
  eventsIn: Schema.Number,
  eventsOut: Schema.Number,
  decodeFailures: Schema.Number,
  droppedClients: Schema.Number,
  hooksIn: Schema.Number,
  hooksRefused: Schema.Number
})
export type Health = typeof Health.Type

/** An unknown session or computer. */
export class NotFound extends Schema.TaggedError<NotFound>()("NotFound", { message: Schema.String }, HttpApiSchema.annotations({ status: 404 })) {}
/** Input that can never succeed as sent. */
export class InvalidInput extends Schema.TaggedError<InvalidInput>()("InvalidInput", { message: Schema.String }, HttpApiSchema.annotations({ status: 400 })) {}
/** The computer owning the session did not answer in time. */
export class PeerTimeout extends Schema.TaggedError<PeerTimeout>()("PeerTimeout", { message: Schema.String }, HttpApiSchema.annotations({ status: 504 })) {}
/** tmux itself failed. */
export class TerminalFailed extends Schema.TaggedError<TerminalFailed>()("TerminalFailed", { message: Schema.String }, HttpApiSchema.annotations({ status: 502 })) {}

export type ControlError = NotFound | InvalidInput | PeerTimeout | TerminalFailed

export const SessionPath = Schema.Struct({ id: Schema.String.pipe(Schema.pattern(/^[A-Za-z0-9_-]{1,64}$/)) })
export const InputBody = Schema.Struct({ text: InputText })
export const Output = Schema.Struct({ sessionId: Schema.String, computer: Schema.String, output: Schema.String })
/** A hook call: the agent's own JSON as the body, the session it runs in as a header. */
export const HookPath = Schema.Struct({ agent: Schema.String })
export const HookHeaders = Schema.Struct({ "x-termfleet-session": Schema.optional(Schema.String) })

export const OutputParams = Schema.Struct({
  lines: Schema.optional(
    Schema.compose(Schema.NumberFromString, OutputLines).annotations({
      // The query string carries the number as text: state its bounds on that text.
      jsonSchema: {
        type: "string",
        pattern: "^[0-9]+$",
        description: `a whole number from 1 to ${Limits.outputLines} (default ${Limits.defaultOutputLines})`
      }
    })
  )
})

export class FleetApi extends HttpApi.make("termfleet")
  .add(
    HttpApiGroup.make("fleet")
      .add(HttpApiEndpoint.get("health", "/health").addSuccess(Health))
      .add(HttpApiEndpoint.get("computers", "/computers").addSuccess(Schema.Array(Computer)))
      .add(
        HttpApiEndpoint.get("sessions", "/sessions")
          .setUrlParams(Schema.Struct({ computer: Schema.optional(Schema.String) }))
          .addSuccess(Schema.Array(Session))
      )
      .add(HttpApiEndpoint.get("projects", "/projects").addSuccess(Schema.Array(Project)))
      .add(HttpApiEndpoint.get("todos", "/todos").addSuccess(Schema.Array(Todo)))
  )
  .add(
    HttpApiGroup.make("control")
      .add(
        HttpApiEndpoint.post("create", "/sessions")
          .setPayload(CreateSessionBody)
          .addSuccess(Session, { status: 201 })
      )
      .add(
        HttpApiEndpoint.post("input", "/sessions/:id/input")
          .setPath(SessionPath)
          .setPayload(InputBody)
          .addSuccess(Session)
      )
      .add(
        HttpApiEndpoint.del("end", "/sessions/:id")
          .setPath(SessionPath)
          .addSuccess(Schema.Void, { status: 204 })
      )
      .add(
        HttpApiEndpoint.get("output", "/sessions/:id/output")
          .setPath(SessionPath)
          .setUrlParams(OutputParams)
          .addSuccess(Output)
      )
      .addError(NotFound)
      .addError(InvalidInput)
      .addError(PeerTimeout)
      .addError(TerminalFailed)
  )
  .add(
    HttpApiGroup.make("hooks")
      .add(
        HttpApiEndpoint.post("hook", "/hooks/:agent")
          .setPath(HookPath)
          .setHeaders(HookHeaders)
          .setPayload(Schema.Unknown)
          .addSuccess(Schema.Void, { status: 204 })
      )
      .addError(NotFound)
      .addError(InvalidInput)
  )
{}
