/**
 * A Redis Sentinel deployment of real processes on loopback: a master, a
 * replica of it, and two Sentinels watching it (which find the master down
 * 1 s after it stops answering) (`redis-server --sentinel`,
 * the binary Debian's `redis-sentinel` package links to), each with a
 * config file of its own in a temporary folder. Stopped with the scope.
 */
import { Effect, type Scope } from "effect"
import { Redis } from "ioredis"
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { pollUntil } from "./Poll.js"
import { type RedisServer, spawnRedis, startRedisServer } from "./RedisProcess.js"
import { tempDir } from "./TempDir.js"

export const MASTER_NAME = "termfleet-test"

export interface SentinelDeployment {
  /** `redis+sentinel://127.0.0.1:<port>,127.0.0.1:<port>/termfleet-test` */
  readonly url: string
  /** The port of the server the Sentinels name as master now. */
  readonly masterPort: Effect.Effect<number>
  /** The replica's port: the master after a failover. */
  readonly replicaPort: number
  /** `SENTINEL FAILOVER`, then waits until both Sentinels name the replica as master and it takes writes. */
  readonly failover: Effect.Effect<void, Error>
  /** The master lost: its process killed (SIGKILL); waits until the Sentinels have promoted the replica, as for `failover`. */
  readonly killMaster: Effect.Effect<void, Error>
}

const client = (port: number) =>
  Effect.acquireRelease(
    Effect.sync(() => new Redis({ host: "127.0.0.1", port, lazyConnect: false, maxRetriesPerRequest: 1 })),
    (redis) => Effect.sync(() => redis.disconnect())
  )

const stopped = (server: RedisServer) => Effect.addFinalizer(() => Effect.promise(server.stop))

export const sentinelDeployment: Effect.Effect<SentinelDeployment, Error, Scope.Scope> = Effect.gen(function*() {
  const dir = yield* tempDir("tf-sentinel")
  const master = yield* Effect.promise(() => startRedisServer())
  yield* stopped(master)
  const replica = yield* Effect.promise(() => startRedisServer(undefined, ["--replicaof", "127.0.0.1", String(master.port)]))
  yield* stopped(replica)
  const sentinels = yield* Effect.forEach([1, 2], (n) =>
    Effect.promise(() =>
      spawnRedis(undefined, (port) => {
        const config = join(dir, `sentinel-${n}.conf`)
        writeFileSync(config, [
          `port ${port}`,
          "bind 127.0.0.1",
          `sentinel monitor ${MASTER_NAME} 127.0.0.1 ${master.port} 1`,
          `sentinel down-after-milliseconds ${MASTER_NAME} 1000`,
          `sentinel failover-timeout ${MASTER_NAME} 5000`,
          ""
        ].join("\n"))
        return [config, "--sentinel"]
      }, "+monitor master")
    ).pipe(Effect.tap(stopped)))
  const asked = yield* Effect.forEach(sentinels, (sentinel) => client(sentinel.port))
  const masterOf = (sentinel: Redis) =>
    Effect.promise(async () => Number((await sentinel.call("SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER_NAME) as Array<string>)[1]))

  // Ready once the replica has synced and each Sentinel knows it (as a replica it can promote).
  const onReplica = yield* client(replica.port)
  yield* pollUntil(
    Effect.promise(() => onReplica.info("replication")),
    (info) => info.includes("master_link_status:up"),
    "the replica in sync",
    10_000
  )
  for (const sentinel of asked) {
    yield* pollUntil(
      Effect.promise(() => sentinel.call("SENTINEL", "REPLICAS", MASTER_NAME) as Promise<Array<Array<string>>>),
      (replicas) => replicas.some((fields) => fields.includes(String(replica.port)) && fields[fields.indexOf("flags") + 1] === "slave"),
      "each Sentinel to know the replica",
      15_000
    )
  }

  const promoted = Effect.gen(function*() {
    for (const sentinel of asked) {
      yield* pollUntil(masterOf(sentinel), (port) => port === replica.port, "both Sentinels to name the replica as master", 15_000)
    }
    yield* pollUntil(
      Effect.promise(() => onReplica.role() as Promise<Array<unknown>>),
      (role) => role[0] === "master",
      "the replica promoted",
      15_000
    )
  })

  return {
    url: `redis+sentinel://${sentinels.map((s) => `127.0.0.1:${s.port}`).join(",")}/${MASTER_NAME}`,
    masterPort: masterOf(asked[0]!),
    replicaPort: replica.port,
    failover: Effect.zipRight(Effect.promise(() => asked[0]!.call("SENTINEL", "FAILOVER", MASTER_NAME)), promoted),
    killMaster: Effect.zipRight(Effect.promise(master.stop), promoted)
  }
})
