/**
 * The REST API, declared once with `@effect/platform`'s HttpApi: the server
 * implements it (`HttpRoutes.ts`) and its OpenAPI document is served at
 * `/openapi.json`.
 */
import { HttpApi, HttpApiEndpoint, HttpApiGroup } from "@effect/platform"
import { Schema } from "effect"
import { Computer, Project, Session, Todo } from "./Domain.js"

export const Health = Schema.Struct({
  status: Schema.Literal("ok"),
  computer: Schema.String,
  version: Schema.String,
  redis: Schema.Literal("local-only", "connecting", "connected", "unreachable"),
  peers: Schema.Number,
  clients: Schema.Number,
  eventsIn: Schema.Number,
  eventsOut: Schema.Number,
  decodeFailures: Schema.Number,
  droppedClients: Schema.Number
})
export type Health = typeof Health.Type

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
{}
