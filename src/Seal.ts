/**
 * Every entry one daemon writes for another (events, requests, replies,
 * presence) is sealed with the fleet secret: an HMAC-SHA256 over where it is
 * written, who sent it, a per-sender sequence and the body. Someone with
 * access to Redis but not the secret can neither forge an entry, nor move a
 * genuine one to another stream, nor replay one (its sequence is not newer
 * than what was already seen from that sender).
 */
import { Clock, Context, Effect, Either, Layer, Option } from "effect"
import { createHmac, timingSafeEqual } from "node:crypto"
import { DaemonConfig } from "./DaemonConfig.js"

export interface Opened {
  readonly from: string
  readonly body: string
}

/** `${epoch}-${counter}`: epoch is the sender's start time, so a restarted sender starts above its old entries. */
const parseSeq = (seq: string): readonly [number, number] | undefined => {
  const match = /^(\d{1,16})-(\d{1,16})$/.exec(seq)
  return match === null ? undefined : [Number(match[1]), Number(match[2])]
}

/** How far out of order one sender's entries may arrive (two fibers may XADD in either order). */
const REPLAY_WINDOW = 1024

/**
 * The anti-replay window of one sender on one stream (as in IPsec): an entry
 * is accepted once, if its sequence is not older than the window.
 */
export class ReplayWindow {
  private epoch = -1
  private high = 0
  private readonly seen = new Set<number>()

  accept([epoch, counter]: readonly [number, number]): boolean {
    if (epoch < this.epoch) return false
    if (epoch > this.epoch) {
      this.epoch = epoch
      this.high = counter
      this.seen.clear()
      this.seen.add(counter)
      return true
    }
    if (counter <= this.high - REPLAY_WINDOW || this.seen.has(counter)) return false
    this.seen.add(counter)
    if (counter > this.high) {
      this.high = counter
      for (const old of this.seen) if (old <= this.high - REPLAY_WINDOW) this.seen.delete(old)
    }
    return true
  }
}

export const signature = (secret: string, where: string, from: string, seq: string, body: string): string =>
  createHmac("sha256", secret).update(`${where}\n${from}\n${seq}\n${body}`).digest("hex")

export const sealFields = (secret: string, where: string, from: string, seq: string, body: string): Record<string, string> => ({
  from,
  seq,
  sig: signature(secret, where, from, seq, body),
  body
})

/** Checks the signature in constant time; says why an entry is refused. */
export const verifyFields = (
  secret: string,
  where: string,
  fields: Readonly<Record<string, string>>
): Either.Either<Opened & { readonly seq: readonly [number, number] }, string> => {
  const { from, seq, sig, body } = fields
  if (from === undefined || seq === undefined || sig === undefined || body === undefined) {
    return Either.left("unsigned entry")
  }
  const parsed = parseSeq(seq)
  if (parsed === undefined) return Either.left(`bad sequence '${seq.slice(0, 40)}'`)
  const expected = Buffer.from(signature(secret, where, from, seq, body), "hex")
  const given = Buffer.from(sig, "hex")
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return Either.left(`bad signature from '${from.slice(0, 64)}'`)
  return Either.right({ from, body, seq: parsed })
}

export interface SealService {
  readonly seal: (where: string, body: string) => Effect.Effect<Record<string, string>>
  /** Verifies an entry and refuses one already seen, or too old, from its sender. */
  readonly open: (where: string, fields: Readonly<Record<string, string>>) => Effect.Effect<Either.Either<Opened, string>>
  /** Verifies without the replay check, for values read again on purpose (presence keys). */
  readonly verify: (where: string, fields: Readonly<Record<string, string>>) => Either.Either<Opened, string>
}

export class Seal extends Context.Tag("termfleet/Seal")<Seal, SealService>() {
  static readonly layer = Layer.effect(
    Seal,
    Effect.gen(function*() {
      const config = yield* DaemonConfig
      const secret = yield* Option.match(config.fleetSecret, {
        onNone: () => Effect.dieMessage("a fleet secret is required to talk to peers"),
        onSome: Effect.succeed
      })
      const epoch = yield* Clock.currentTimeMillis
      let counter = 0
      const windows = new Map<string, ReplayWindow>()
      return {
        seal: (where, body) =>
          Effect.sync(() => sealFields(secret, where, config.computer, `${epoch}-${++counter}`, body)),
        open: (where, fields) =>
          Effect.sync(() =>
            Either.flatMap(verifyFields(secret, where, fields), ({ from, body, seq }) => {
              const key = `${where}\n${from}`
              let window = windows.get(key)
              if (window === undefined) windows.set(key, (window = new ReplayWindow()))
              return window.accept(seq) ? Either.right({ from, body }) : Either.left(`replayed entry from '${from}'`)
            })
          ),
        verify: (where, fields) => Either.map(verifyFields(secret, where, fields), ({ body, from }) => ({ from, body }))
      }
    })
  )
}
