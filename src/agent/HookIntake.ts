/**
 * `POST /hooks/:agent`: the agents' hook calls. The body is the agent's own
 * JSON, decoded strictly (`HookPayload.ts`); the session it runs in comes as
 * `X-Termfleet-Session`. The guard requires the token, or that session's
 * hook credential (`HookCredential.ts`), and counts every hook call taken or
 * refused for `/health`.
 */
import { HttpApiBuilder } from "@effect/platform"
import { Effect, Either, Option, Schema } from "effect"
import { FleetApi, InvalidInput, NotFound, SessionPath } from "../domain/Api.js"
import { AgentState } from "./AgentState.js"
import { decodeHook, HookAgent } from "./HookPayload.js"

const decodeAgent = Schema.decodeUnknownEither(HookAgent)
const decodeSessionId = Schema.decodeUnknownEither(SessionPath.fields.id)

export const HookHandlers = HttpApiBuilder.group(FleetApi, "hooks", (handlers) =>
  Effect.gen(function*() {
    const agents = yield* AgentState
    return handlers.handle("hook", ({ headers, path, payload }) =>
      Effect.gen(function*() {
        const agent = yield* Either.mapLeft(decodeAgent(path.agent), () =>
          new InvalidInput({ message: `hooks are taken for 'claude' and 'codex', not '${path.agent}'` }))
        const sessionId = yield* Either.mapLeft(decodeSessionId(headers["x-termfleet-session"]), () =>
          new InvalidInput({ message: "the session is named by the header 'X-Termfleet-Session' (its TERMFLEET_SESSION)" }))
        const event = yield* Either.mapLeft(decodeHook(agent, payload), (message) => new InvalidInput({ message }))
        const published = yield* agents.hook(sessionId, event)
        if (Option.isNone(published)) {
          return yield* new NotFound({ message: `no session '${sessionId}' on this computer` })
        }
      }))
  }))
