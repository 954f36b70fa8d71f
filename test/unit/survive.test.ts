/** A bug in one step of a long-running loop does not end the loop. */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Queue, TestClock } from "effect"
import { surviving } from "../../src/runtime/Survive.js"

describe("surviving", () => {
  it.effect("a defect in one step is logged, and the next step runs a second later", () =>
    Effect.gen(function*() {
      const inbox = yield* Queue.unbounded<string>()
      const seen: Array<string> = []
      const step = Effect.flatMap(Queue.take(inbox), (item) =>
        item === "bad" ? Effect.die(new Error("a bug")) : Effect.sync(() => void seen.push(item)))
      yield* Effect.fork(Effect.forever(surviving("test loop", step)))
      yield* Queue.offerAll(inbox, ["first", "bad", "after"])
      while (!seen.includes("after")) yield* TestClock.adjust("1 second")
      expect(seen).toEqual(["first", "after"])
    }))
})
