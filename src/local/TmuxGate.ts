/**
 * tmux before 3.7 can crash, taking every session of the user with it, when
 * it tells its control clients of a change (sessions created, ended or
 * renamed, a client detached, windows changed) while a control client is
 * still attaching (tmux#4980, fixed in 3.7). This daemon makes both: one
 * control client per session, and the commands of the API. The gate lets
 * one of them happen at a time: a control client holds it from its start
 * until tmux replied to its attach; a command that changes sessions or
 * windows holds it while it runs. Not a detach: holding the gate until a
 * detached client had exited made tmux 3.3a crash elsewhere, far more often
 * (bench/tmuxCrash.ts, BENCHMARKS.md). Changes made outside the daemon (the
 * user's own tmux commands) are not gated.
 */
import { Effect } from "effect"

export interface TmuxGate {
  /** Runs `effect` while no control client attaches and no other change runs. */
  readonly exclusive: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
}

export const makeTmuxGate: Effect.Effect<TmuxGate> = Effect.map(Effect.makeSemaphore(1), (semaphore) => ({
  exclusive: semaphore.withPermits(1)
}))

/** The tmux commands after which tmux notifies control clients of sessions, clients or windows. */
const notifying = new Set([
  "new-session", "kill-session", "rename-session", "kill-server",
  "new-window", "kill-window", "rename-window", "link-window", "unlink-window", "move-window", "swap-window",
  "split-window", "kill-pane", "break-pane", "join-pane", "respawn-pane", "respawn-window", "detach-client"
])

/** Whether one of the commands in a tmux argument list (`;`-separated) makes tmux notify control clients. */
export const notifies = (args: ReadonlyArray<string>): boolean =>
  args.some((arg, i) => (i === 0 || args[i - 1] === ";") && notifying.has(arg))
