/**
 * Every entry one daemon writes for another (events, requests, replies,
 * presence) is sealed with the fleet secret: an HMAC-SHA256 over where it is
 * written, who sent it, a per-sender sequence and the body. Someone with
 * access to Redis but not the secret can neither forge an entry, nor move a
 * genuine one to another stream, nor replay one (its sequence is not newer
 * than what was already seen from that sender).
 *
 * Entries of an event stream are numbered per stream (1, 2, 3...), so the
 * reader also learns when entries between two of a sender's were lost
 * (trimmed, or gone with a Redis that restarted empty).
 */
import { FileSystem } from "@effect/platform"
import { Context, Effect, Either, Layer, Option, Redacted, Schema } from "effect"
import { createHash, createHmac, timingSafeEqual } from "node:crypto"
import { join } from "node:path"
import { DaemonConfig } from "../config/DaemonConfig.js"
import { Limits } from "../domain/Limits.js"

export interface Opened {
  readonly from: string
  readonly body: string
}

/** An entry refused as a replay, taken, or taken after a gap: some of the sender's earlier entries never arrived. */
export type Acceptance = "refused" | "next" | "gap"

/** `${epoch}-${counter}`: epoch is the sender's start time, so a restarted sender starts above its old entries. */
const parseSeq = (seq: string): readonly [number, number] | undefined => {
  const match = /^(\d{1,16})-(\d{1,16})$/.exec(seq)
  return match === null ? undefined : [Number(match[1]), Number(match[2])]
}

const SavedWindow = Schema.Struct({ epoch: Schema.Number, high: Schema.Number, seen: Schema.Array(Schema.Number) })
type SavedWindow = typeof SavedWindow.Type
const SavedWindows = Schema.parseJson(Schema.Record({ key: Schema.String, value: SavedWindow }))
const decodeSaved = Schema.decodeUnknownOption(SavedWindows)


/**
 * The anti-replay window of one sender on one stream (as in IPsec): an entry
 * is accepted once, if its sequence is not older than the window.
 */
export class ReplayWindow {
  private epoch = -1
  private high = 0
  private readonly seen = new Set<number>()

  static from(saved: SavedWindow): ReplayWindow {
    const window = new ReplayWindow()
    window.epoch = saved.epoch
    window.high = saved.high
    for (const counter of saved.seen) window.seen.add(counter)
    return window
  }

  save(): SavedWindow {
    return { epoch: this.epoch, high: this.high, seen: [...this.seen] }
  }

  /** A gap is only told within a sender's run it already knows: its first entry ever, or after a restart its first, is news. */
  accept([epoch, counter]: readonly [number, number]): Acceptance {
    if (epoch < this.epoch) return "refused"
    if (epoch > this.epoch) {
      const known = this.epoch >= 0
      this.epoch = epoch
      this.high = counter
      this.seen.clear()
      this.seen.add(counter)
      return known && counter > 1 ? "gap" : "next"
    }
    if (counter <= this.high - Limits.replayWindow || this.seen.has(counter)) return "refused"
    this.seen.add(counter)
    const gap = counter > this.high + 1
    if (counter > this.high) {
      // Forget what fell out of the window: walk the few counters that left
      // it, not the whole set (this runs for nearly every entry).
      if (counter - this.high >= Limits.replayWindow) {
        for (const old of this.seen) if (old <= counter - Limits.replayWindow) this.seen.delete(old)
      } else {
        for (let old = this.high - Limits.replayWindow + 1; old <= counter - Limits.replayWindow; old++) this.seen.delete(old)
      }
      this.high = counter
    }
    return gap ? "gap" : "next"
  }
}

/** The HMAC of `where`, `from`, `seq` and `body`, a line each; the body given apart, not copied into one string with them. */
export const signature = (secret: string, where: string, from: string, seq: string, body: string): string =>
  createHmac("sha256", secret).update(`${where}\n${from}\n${seq}\n`).update(body).digest("hex")

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
  // Buffer.from(hex) would skip case, stray characters and an odd last digit.
  if (!/^[0-9a-f]{64}$/.test(sig)) return Either.left(`malformed signature from '${from.slice(0, 64)}'`)
  const expected = Buffer.from(signature(secret, where, from, seq, body), "hex")
  const given = Buffer.from(sig, "hex")
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return Either.left(`bad signature from '${from.slice(0, 64)}'`)
  return Either.right({ from, body, seq: parsed })
}

export interface SealService {
  readonly seal: (where: string, body: string) => Effect.Effect<Record<string, string>>
  /**
   * Seals the next entry of an event stream, numbered within that stream.
   * Callers keep one writer per stream. Synchronous: it runs for every entry
   * of a batch, inside the batch's one Effect.
   */
  readonly unsafeSealNext: (stream: string, body: string) => Record<string, string>
  /**
   * Verifies an entry and refuses one already seen, or too old, from its
   * sender; `gap` tells that entries numbered before it are missing (only
   * meaningful on streams written with `unsafeSealNext`).
   */
  readonly open: (
    where: string,
    fields: Readonly<Record<string, string>>
  ) => Effect.Effect<Either.Either<Opened & { readonly gap: boolean }, string>>
  /** `open` as a plain synchronous call, for a batch read inside one Effect. */
  readonly unsafeOpen: (
    where: string,
    fields: Readonly<Record<string, string>>
  ) => Either.Either<Opened & { readonly gap: boolean }, string>
  /** Verifies without the replay check, for values read again on purpose (presence keys); `epoch` is the writer's run. */
  readonly verify: (
    where: string,
    fields: Readonly<Record<string, string>>
  ) => Either.Either<Opened & { readonly epoch: number }, string>
  /**
   * Seals from now on with an epoch above `above` (and this run's), numbering afresh: peers then take this run's
   * entries over those of a twin that sealed with `above` (which their replay windows would otherwise prefer).
   */
  readonly renew: (above: number) => Effect.Effect<void>
  /** The epoch of the run before this one with the same state folder, if it left one. */
  readonly previousEpoch: Option.Option<number>
}

/**
 * The replay windows are kept in the state folder, where someone with access
 * only to Redis cannot roll them back, so a restarted daemon still refuses
 * entries it already took. They are saved at most once a second and when the
 * daemon stops.
 */
const stateFile = (kind: "seen" | "epoch", stateDir: string, prefix: string, computer: string) =>
  join(stateDir, `${kind}-${createHash("sha256").update(`${prefix}\n${computer}`).digest("hex").slice(0, 16)}.json`)

const decodeEpoch = Schema.decodeUnknownOption(Schema.parseJson(Schema.Number))

export class Seal extends Context.Tag("termfleet/Seal")<Seal, SealService>() {
  /** With the fleet's secret (`FleetSettings`). */
  static readonly layer = (fleetSecret: Redacted.Redacted<string>) => Layer.scoped(
    Seal,
    Effect.gen(function*() {
      const config = yield* DaemonConfig
      const fs = yield* FileSystem.FileSystem
      const secret = Redacted.value(fleetSecret)
      // Must grow across restarts of this daemon, so peers take its new
      // entries as new: the wall clock (tests run on the TestClock), but never
      // below the last run's, which is kept in case the clock went back.
      const epochFile = stateFile("epoch", config.stateDir, config.prefix, config.computer)
      const lastEpoch = yield* fs.readFileString(epochFile).pipe(Effect.map(decodeEpoch), Effect.orElseSucceed(Option.none))
      let epoch = 0
      let counter = 0
      // One per event stream written to, i.e. per peer: bounded by the fleet.
      const streamCounters = new Map<string, number>()
      /** An epoch above `above`, its entries numbered from 1, kept in the state folder. */
      const startEpoch = (above: number) =>
        Effect.suspend(() => {
          epoch = Math.max(Date.now(), above + 1)
          counter = 0
          streamCounters.clear()
          return fs.makeDirectory(config.stateDir, { recursive: true, mode: 0o700 }).pipe(
            Effect.zipRight(fs.writeFileString(epochFile, JSON.stringify(epoch), { mode: 0o600 })),
            Effect.catchAll((error) => Effect.logWarning(`could not save this run's epoch: ${error.message}`))
          )
        })
      yield* startEpoch(Option.getOrElse(lastEpoch, () => 0))
      const file = stateFile("seen", config.stateDir, config.prefix, config.computer)
      const saved = yield* fs.readFileString(file).pipe(Effect.map(decodeSaved), Effect.orElseSucceed(Option.none))
      const windows = new Map<string, ReplayWindow>(
        Object.entries(Option.getOrElse(saved, () => ({}))).map(([key, value]) => [key, ReplayWindow.from(value)])
      )
      let dirty = false
      let saveFailing = false
      const save = Effect.suspend(() => {
        if (!dirty) return Effect.void
        dirty = false
        const json = JSON.stringify(Object.fromEntries([...windows].map(([key, window]) => [key, window.save()])))
        return fs.makeDirectory(config.stateDir, { recursive: true, mode: 0o700 }).pipe(
          Effect.zipRight(fs.writeFileString(`${file}.tmp`, json, { mode: 0o600 })),
          Effect.zipRight(fs.rename(`${file}.tmp`, file)),
          Effect.tap(() => void (saveFailing = false)),
          // Tried again a second later; said once, not every second.
          Effect.catchAll((error) =>
            Effect.suspend(() => {
              dirty = true
              if (saveFailing) return Effect.void
              saveFailing = true
              return Effect.logWarning(`could not save replay windows: ${error.message}`)
            }))
        )
      })
      yield* save.pipe(Effect.delay("1 second"), Effect.forever, Effect.forkScoped)
      yield* Effect.addFinalizer(() => save)

      const unsafeOpen: SealService["unsafeOpen"] = (where, fields) =>
        Either.flatMap(verifyFields(secret, where, fields), ({ from, body, seq }) => {
          const key = `${where}\n${from}`
          let window = windows.get(key)
          if (window === undefined) windows.set(key, (window = new ReplayWindow()))
          const accepted = window.accept(seq)
          if (accepted === "refused") return Either.left(`replayed entry from '${from}'`)
          dirty = true
          return Either.right({ from, body, gap: accepted === "gap" })
        })

      return {
        seal: (where, body) =>
          Effect.sync(() => sealFields(secret, where, config.computer, `${epoch}-${++counter}`, body)),
        unsafeSealNext: (stream, body) => {
          const next = (streamCounters.get(stream) ?? 0) + 1
          streamCounters.set(stream, next)
          return sealFields(secret, stream, config.computer, `${epoch}-${next}`, body)
        },
        open: (where, fields) => Effect.sync(() => unsafeOpen(where, fields)),
        unsafeOpen,
        verify: (where, fields) => Either.map(verifyFields(secret, where, fields), ({ body, from, seq }) => ({ from, body, epoch: seq[0] })),
        renew: (above) => startEpoch(Math.max(above, epoch)),
        previousEpoch: lastEpoch
      }
    })
  )
}
