/**
 * A real `redis-server` for a test file: started on a free loopback port
 * (or `TERMFLEET_TEST_REDIS_URL` when set), stopped after the file.
 */
import { afterAll, beforeAll } from "vitest"
import { freePort } from "./FreePort.js"
import { type RedisServer, startRedisServer } from "./RedisProcess.js"

export { freePort }

/** Registers a Redis for the current test file; call the answer inside tests for its URL. */
export const useRedis = (): (() => string) => {
  let server: RedisServer | undefined
  const fromEnv = process.env["TERMFLEET_TEST_REDIS_URL"]
  beforeAll(async () => {
    if (fromEnv === undefined) server = await startRedisServer()
  })
  afterAll(async () => {
    await server?.stop()
  })
  return () => fromEnv ?? server!.url
}

let unique = 0
/** A key prefix no other test uses, so tests sharing a Redis stay apart. */
export const uniquePrefix = (name: string) => `t${process.pid}-${Date.now()}-${++unique}-${name}:`
