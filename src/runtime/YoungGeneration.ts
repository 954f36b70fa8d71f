/**
 * V8's young generation (where new objects are made) grows when a burst of
 * allocation leaves many objects alive, up to 16 MB, and a quiet process
 * never gives it back. Start-up is such a burst: loading modules and building
 * the daemon's Layers grew it to about 12 MB that an idle daemon then held
 * (its RSS 79 → 70 MB without). So it stays at its first size (1 MB) while
 * starting; a daemon lets it grow again once serving, for the bursts of work
 * that need it (many clients, a flooding pane).
 */
import { setFlagsFromString } from "node:v8"

/** V8's default growth factor (`node --v8-options`). */
const DEFAULT_GROWTH_FACTOR = 2

export const holdYoungGeneration = (): void => setFlagsFromString("--semi-space-growth-factor=1")

export const releaseYoungGeneration = (): void => setFlagsFromString(`--semi-space-growth-factor=${DEFAULT_GROWTH_FACTOR}`)
