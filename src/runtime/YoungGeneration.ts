/**
 * V8's young generation (where new objects are made) grows when a burst of
 * allocation leaves many objects alive, up to 16 MB a semi-space (32 MB in
 * all), and a quiet process never gives it back. Start-up is such a burst:
 * loading modules and building the daemon's Layers grew it to about 12 MB
 * that an idle daemon then held (its RSS 79 → 70 MB without). So it stays at
 * its first size (1 MB) while starting; once serving, a daemon lets it grow
 * for the bursts of work that need it (many clients, a flooding pane, tens
 * of thousands of events a second), but only up to `GROWN_BYTES`: grown to
 * its full size it stayed 20-30 MB of the RSS of a daemon long after the
 * burst (B's RSS with 1,000 clients after the benchmark's throughput steps).
 */
import { PerformanceObserver } from "node:perf_hooks"
import { getHeapSpaceStatistics, setFlagsFromString } from "node:v8"
import { Effect, type Scope } from "effect"

/** V8's default growth factor (`node --v8-options`). */
const DEFAULT_GROWTH_FACTOR = 2
/**
 * The young generation's size (both semi-spaces) past which it may not grow. At 8 MB a pane flooding at
 * 20 MB/s cost its daemon about a tenth more CPU in scavenges than at 32 MB; 16 MB is between the two.
 */
const GROWN_BYTES = 16 * 1024 * 1024

const growthFactor = (factor: number) => setFlagsFromString(`--semi-space-growth-factor=${factor}`)

export const holdYoungGeneration = (): void => growthFactor(1)

const youngGenerationBytes = (): number =>
  getHeapSpaceStatistics().find((space) => space.space_name === "new_space")?.space_size ?? 0

/**
 * Lets the young generation grow up to `GROWN_BYTES`, for as long as the
 * scope lasts. V8 grows it only when it collects it, so its size is looked
 * at after each collection (no timer: an idle daemon collects nothing).
 */
export const boundYoungGeneration: Effect.Effect<void, never, Scope.Scope> = Effect.asVoid(Effect.acquireRelease(
  Effect.sync(() => {
    let growing: boolean | undefined
    const check = () => {
      const grow = youngGenerationBytes() < GROWN_BYTES
      if (grow === growing) return
      growing = grow
      growthFactor(grow ? DEFAULT_GROWTH_FACTOR : 1)
    }
    check()
    const collections = new PerformanceObserver(check)
    collections.observe({ entryTypes: ["gc"] })
    return collections
  }),
  (collections) => Effect.sync(() => collections.disconnect())
))
