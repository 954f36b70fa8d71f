/**
 * A watched pane's output read through `pipe-pane` rather than control mode.
 * tmux writes a control client's output one escaped byte at a time (about
 * 45 ms of its CPU per MB on a small machine: control mode tops out near
 * 15 MB/s), while a pipe gets the pane's bytes as they are, in blocks of up
 * to 64 KiB: a flooding pane costs tmux a fraction of that, and the daemon a
 * read per block instead of a line per few KiB.
 *
 * tmux runs a pipe's command with `/bin/sh -c`: here `exec cat > FIFO`, where
 * the FIFO is one this daemon made in its own state folder, so nobody's input
 * reaches the command. Each pipe has a FIFO of its own: bytes still in flight
 * in a pipe that was replaced never mix with the new one's.
 */
import { Effect, Schema, type Scope } from "effect"
import { execFile } from "node:child_process"
import { constants, openSync } from "node:fs"
import { mkdir, rm, unlink } from "node:fs/promises"
import { Socket } from "node:net"
import { join } from "node:path"
import { quote } from "../local/ControlMode.js"

export class PipeError extends Schema.TaggedError<PipeError>()("PipeError", { message: Schema.String }) {}

/** The folder of a daemon's FIFOs, emptied of an earlier run's. */
export const preparePipeFolder = (stateDir: string): Effect.Effect<string, PipeError> => {
  const folder = join(stateDir, "pipes")
  return Effect.tryPromise({
    try: async () => {
      await rm(folder, { recursive: true, force: true })
      await mkdir(folder, { mode: 0o700 })
      return folder
    },
    catch: (error) => new PipeError({ message: `cannot prepare ${folder}: ${String(error)}` })
  })
}

const mkfifo = (path: string) =>
  Effect.async<void, PipeError>((resume) => {
    execFile("mkfifo", ["-m", "600", path], (error) =>
      resume(error === null ? Effect.void : Effect.fail(new PipeError({ message: `mkfifo: ${error.message}` }))))
  })

/** `sh`'s single quotes, then tmux's format escaping (`pipe-pane` expands `#{…}` in its command). */
const pipeCommand = (path: string) => `exec cat > '${path.replaceAll("'", `'\\''`)}'`.replaceAll("#", "##")

/** The command that stops a pane's pipe. */
export const unpipeCommand = (pane: string): string => `pipe-pane -t ${quote(pane)}`

/**
 * A FIFO at `path`, read until the scope closes: every block read is handed
 * to `onData`, and `onEnd` is called once the reading stops (the scope
 * closed, or tmux stopped the pipe). Answers the command that starts the
 * pane's pipe into it (and stops any pipe the pane had).
 */
export const openPanePipe = (
  path: string,
  pane: string,
  onData: (data: Buffer) => void,
  onEnd: () => void
): Effect.Effect<string, PipeError, Scope.Scope> =>
  Effect.gen(function*() {
    yield* Effect.acquireRelease(mkfifo(path), () => Effect.promise(() => unlink(path).catch(() => {})))
    // Opened for reading before tmux opens it for writing: non-blocking, so this does not wait for the writer.
    const socket = yield* Effect.acquireRelease(
      Effect.try({
        try: () => new Socket({ fd: openSync(path, constants.O_RDONLY | constants.O_NONBLOCK), readable: true, writable: false }),
        catch: (error) => new PipeError({ message: `cannot open ${path}: ${String(error)}` })
      }),
      (socket) => Effect.sync(() => socket.destroy())
    )
    socket.on("data", onData)
    socket.on("error", () => socket.destroy())
    socket.on("close", onEnd)
    return `pipe-pane -O -t ${quote(pane)} ${quote(pipeCommand(path))}`
  })
