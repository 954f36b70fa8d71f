/**
 * The daemon's long-running loops (reading streams, pushing to peers,
 * fanning out to clients, polling tmux) must outlive a bug in one step: a
 * defect there would otherwise end the loop silently and the daemon would
 * stop reading, pushing or polling for the rest of its life while looking
 * healthy. The defect is logged, and the loop goes on a second later.
 */
import { Effect } from "effect"

export const surviving = <E, R>(loop: string, step: Effect.Effect<void, E, R>): Effect.Effect<void, E, R> =>
  Effect.catchAllDefect(step, (defect) =>
    Effect.zipRight(Effect.logError(`${loop}: unexpected failure, going on`, defect), Effect.sleep("1 second")))
