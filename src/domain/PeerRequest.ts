/**
 * Request/response between daemons. A request is an entry in the target's
 * `requests:<name>` stream; the answer, naming the request's id, goes to the
 * requester's `replies:<name>` stream, which it reads with one long-lived
 * blocking XREAD for all its waiting calls.
 */
import { Schema } from "effect"
import { jsonBody } from "./JsonBody.js"
import { Command, InputText, OutputLines, Title } from "./Limits.js"
import { ComputerName, Session } from "./Model.js"
import { KeysBase64 } from "./PeerTerminal.js"
import { TerminalSessionId } from "./TerminalProtocol.js"

const CreateFields = {
  title: Schema.optional(Title),
  projectPath: Schema.optional(Schema.NullOr(Schema.String)),
  command: Schema.optional(Command)
}

export const CreateSessionBody = Schema.Struct({ computer: Schema.optional(ComputerName), ...CreateFields })
export type CreateSessionBody = typeof CreateSessionBody.Type

export const PeerRequest = Schema.Union(
  Schema.TaggedStruct("create", CreateFields),
  Schema.TaggedStruct("input", { sessionId: Schema.String, text: InputText }),
  Schema.TaggedStruct("end", { sessionId: Schema.String }),
  Schema.TaggedStruct("output", { sessionId: Schema.String, lines: OutputLines }),
  /** Bytes typed into a session's active pane, unattached (`termfleet send --keys`): answered `done` once tmux took them. */
  Schema.TaggedStruct("keys", { sessionId: TerminalSessionId, data: KeysBase64 })
)
export type PeerRequest = typeof PeerRequest.Type

/** Why a request failed on the peer, carried back so the requester fails the same way. */
export const FailureKind = Schema.Literal("SessionNotFound", "InvalidSessionInput", "TmuxError")
export type FailureKind = typeof FailureKind.Type

export const PeerReply = Schema.Union(
  Schema.TaggedStruct("session", { session: Session }),
  Schema.TaggedStruct("output", { output: Schema.String }),
  Schema.TaggedStruct("done", {}),
  Schema.TaggedStruct("failed", { kind: FailureKind, message: Schema.String })
)
export type PeerReply = typeof PeerReply.Type

const RequestId = Schema.String.pipe(Schema.pattern(/^[0-9a-f]{8,64}$/))

/** The body of a sealed request entry; the seal names the sender, who gets the reply. */
const RequestBody = Schema.Struct({
  id: RequestId,
  deadline: Schema.Number,
  request: PeerRequest
})
export type RequestBody = typeof RequestBody.Type

/** The body of a sealed reply entry: the answer to request `id`. */
const ReplyBody = Schema.Struct({ id: RequestId, reply: PeerReply })
export type ReplyBody = typeof ReplyBody.Type

const requestBody = jsonBody(RequestBody)
const replyBody = jsonBody(ReplyBody)
export const encodeRequest = requestBody.encode
export const decodeRequest = requestBody.decode
export const encodeReply = replyBody.encode
export const decodeReply = replyBody.decode
