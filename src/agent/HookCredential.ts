/**
 * What a session's hooks present instead of the daemon's token: an HMAC of
 * the session's id under the token. The daemon puts it in the environment
 * of each session it starts (the token itself never goes there), and
 * `HttpGuard` takes it for that session's hook calls and nothing else.
 * Derived rather than random, so a session that outlives a run of its
 * daemon still holds one the next run takes (with the same token).
 */
import { createHmac } from "node:crypto"

export const hookCredential = (token: string, sessionId: string): string =>
  createHmac("sha256", token).update(`termfleet hook ${sessionId}`).digest("base64url")
