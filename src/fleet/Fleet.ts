/** What every layer that talks to peers over Redis starts from. */
import { Effect } from "effect"
import { DaemonConfig } from "../config/DaemonConfig.js"
import { RedisClient } from "./RedisClient.js"
import { redisKeys } from "./RedisKeys.js"
import { RedisStatus } from "./RedisStatus.js"
import { Seal } from "./Seal.js"
import { SessionCache } from "../cache/SessionCache.js"
import { Stats } from "../runtime/Stats.js"

export const fleetServices = Effect.gen(function*() {
  const config = yield* DaemonConfig
  return {
    config,
    self: config.computer,
    keys: redisKeys(config.prefix),
    cache: yield* SessionCache,
    redis: yield* RedisClient,
    stats: yield* Stats,
    seal: yield* Seal,
    status: yield* RedisStatus
  }
})
