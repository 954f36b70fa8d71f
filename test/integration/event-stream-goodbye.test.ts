/**
 * A daemon's goodbye is its last word in its peers' streams (on a real
 * redis-server): a snapshot a peer asks for, or one planned while the goodbye
 * went out, is not written after it, or the peer would take the stopped
 * computer back.
 *
 *   npx vitest run test/integration/event-stream-goodbye.test.ts
 */
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Either, Layer, Option, Redacted } from "effect"
import { SessionCache } from "../../src/cache/SessionCache.js"
import { DaemonConfig, defaultSettings } from "../../src/config/DaemonConfig.js"
import { EventStream } from "../../src/fleet/EventStream.js"
import { makeIoRedisClient, RedisClient } from "../../src/fleet/RedisClient.js"
import { redisKeys } from "../../src/fleet/RedisKeys.js"
import { RedisStatus } from "../../src/fleet/RedisStatus.js"
import { Seal, verifyFields } from "../../src/fleet/Seal.js"
import { Stats } from "../../src/runtime/Stats.js"
import { peerComputer } from "../support/fixtures.js"
import { uniquePrefix, useRedis } from "../support/RedisServer.js"
import { tempDir } from "../support/TempDir.js"
import { TEST_FLEET_SECRET } from "../support/TestDaemon.js"

const redisUrl = useRedis()

describe("EventStream's goodbye", () => {
  it.scopedLive("nothing follows it in a peer's stream, not even the snapshot the peer asks for after it", () =>
    Effect.gen(function*() {
      const redis = yield* makeIoRedisClient(redisUrl())
      const prefix = uniquePrefix("goodbye")
      const secret = Redacted.make(TEST_FLEET_SECRET)
      const settings = defaultSettings({
        computer: "alpha",
        prefix,
        stateDir: yield* tempDir("tf-goodbye"),
        fleet: Option.some({ redisUrl: Redacted.make(redisUrl()), secret })
      })
      const context = yield* Layer.build(EventStream.layer.pipe(
        Layer.provideMerge(Layer.mergeAll(Seal.layer(secret), RedisStatus.layer)),
        Layer.provideMerge(Layer.mergeAll(SessionCache.layer, Stats.layer, Layer.succeed(RedisClient, redis), NodeFileSystem.layer)),
        Layer.provideMerge(DaemonConfig.layer(settings))
      ))
      const events = Context.get(context, EventStream)
      yield* Context.get(context, SessionCache).upsertComputer({ ...peerComputer("beta", ["sessions"]), lastSeen: Date.now() })

      yield* events.resend("beta")
      yield* events.push(["beta"], { _tag: "goodbye", computer: "alpha" })
      yield* events.resend("beta")

      const stream = redisKeys(prefix).events("beta")
      const reader = yield* redis.reader
      const written = (yield* reader.xread(stream, "0", { count: 100 })).map((entry) => {
        const opened = verifyFields(TEST_FLEET_SECRET, stream, entry.fields)
        return Either.isRight(opened) ? (JSON.parse(opened.right.body) as { _tag: string })._tag : "unsealed"
      })
      expect(written).toEqual(["sessions_snapshot", "goodbye"])
    }))
})
