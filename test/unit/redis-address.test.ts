import { describe, expect, it } from "@effect/vitest"
import { Either, Option } from "effect"
import { checkRedisUrl, parseSentinelUrl } from "../../src/config/RedisAddress.js"

describe("Redis addresses", () => {
  it("a Sentinel URL names its Sentinels (26379 unless given), the master, and the master's password", () => {
    expect(parseSentinelUrl("redis+sentinel://:p%40ss@10.0.0.1,sentinel-b.lan:26380,[::1]:5000/fleet.main")).toEqual(Either.right({
      sentinels: [{ host: "10.0.0.1", port: 26379 }, { host: "sentinel-b.lan", port: 26380 }, { host: "::1", port: 5000 }],
      name: "fleet.main",
      username: Option.none(),
      password: Option.some("p@ss")
    }))
    expect(Either.map(parseSentinelUrl("redis+sentinel://app:pw@h:1/m"), (a) => [a.username, a.password])).toEqual(
      Either.right([Option.some("app"), Option.some("pw")])
    )
  })

  it("one server's URL passes as it is; anything else is refused with the rule", () => {
    expect(checkRedisUrl("redis://nas:6379")).toEqual(Either.right("redis://nas:6379"))
    expect(checkRedisUrl("rediss://:pw@nas:6380")).toEqual(Either.right("rediss://:pw@nas:6380"))
    for (const bad of ["http://x", "redis+sentinel://", "redis+sentinel://h:1", "redis+sentinel://h:1,/m", "redis+sentinel://h:70000/m", "redis+sentinel://:%zz@h/m"]) {
      expect(Either.isLeft(checkRedisUrl(bad)), bad).toBe(true)
    }
  })
})
