/**
 * One long-lived tmux control-mode client (`tmux -C attach-session`), attached
 * to one session: tmux tells it of every byte the session's panes write and of
 * changes to sessions, and it runs commands without a process each.
 *
 * It attaches with `ignore-size` (it never sizes a window) and
 * `pause-after`: when its reader falls behind by that long, tmux pauses the
 * pane for this client alone (`%pause`), drops what it held for it and goes
 * on reading the pane, so neither the program in the pane nor tmux ever waits
 * for this daemon. Whoever handles `%pause` continues the pane and resyncs.
 *
 * It is handed out once tmux has run the attach, and starts through the
 * `TmuxGate` (tmux before 3.7 can crash on a change while a control client
 * attaches). Not before: tmux reads the client's input as soon as it knows the
 * client, and a command it read before the attach would run for a client with
 * no session, so a command meant for this client (`refresh-client`) fails or,
 * worse, acts on another client.
 *
 * Notifications are handed to `onNotification` synchronously, in the order
 * tmux wrote them (a pane's output lines in a row as one `Output`, whose
 * bytes are its own to keep), with command replies in between at their place: a reply
 * handed to `request`'s callback is exactly between the output tmux had read
 * before the command ran and the output after it.
 */
import { Deferred, Effect, type Scope } from "effect"
import { spawn } from "node:child_process"
import { Limits } from "../domain/Limits.js"
import { ControlReader, type Notification, OutputBatch } from "./ControlMode.js"
import { TmuxError, tmuxEnv } from "./Tmux.js"
import type { TmuxGate } from "./TmuxGate.js"

export interface Reply {
  readonly lines: ReadonlyArray<string>
  readonly failed: boolean
}

export interface ControlClient {
  /** Runs one command line; answers its output lines. */
  readonly run: (command: string) => Effect.Effect<ReadonlyArray<string>, TmuxError>
  /** Sends one command line; `onReply` gets its answer in stream order (or a failed reply if the client ends first). */
  readonly request: (command: string, onReply: (reply: Reply) => void) => void
  /** Why the client ended: the session is gone, tmux exited, or the client was closed. */
  readonly ended: Effect.Effect<string>
}

/** Seconds a pane's output may wait for this daemon before tmux pauses it for this client. */
export const PAUSE_AFTER_SECONDS = 2

const NEWLINE = 0x0a

export const openControlClient = (
  socket: string,
  target: string,
  onNotification: (notification: Notification) => void,
  gate: TmuxGate
): Effect.Effect<ControlClient, never, Scope.Scope> =>
  gate.exclusive(Effect.gen(function*() {
    const ended = yield* Deferred.make<string>()
    /** Done once tmux replied to the attach, or the client ended. */
    const attached = yield* Deferred.make<void>()
    const child = yield* Effect.acquireRelease(
      Effect.sync(() =>
        spawn("tmux", ["-u", "-L", socket, "-C", "attach-session", "-t", target, "-f", `ignore-size,pause-after=${PAUSE_AFTER_SECONDS}`], {
          env: tmuxEnv(),
          stdio: ["pipe", "pipe", "pipe"]
        })
      ),
      // Closing its input detaches a control client; a kill makes sure. Not through the gate (see TmuxGate).
      (child) =>
        Effect.sync(() => {
          child.stdin.end()
          child.kill()
        })
    )
    const pending: Array<(reply: Reply) => void> = []
    const reader = new ControlReader()
    let body: Array<string> | undefined
    let stderr = ""
    let done = false

    const finish = (reason: string) => {
      if (done) return
      done = true
      for (const onReply of pending.splice(0)) onReply({ lines: [reason], failed: true })
      Deferred.unsafeDone(ended, Effect.succeed(reason))
      Deferred.unsafeDone(attached, Effect.void)
    }

    const handle = (line: Buffer) => {
      const read = reader.read(line)
      switch (read._tag) {
        case "Begin":
          body = read.mine ? [] : undefined
          return
        case "Body":
          body?.push(read.line)
          return
        case "End":
          if (read.mine) pending.shift()?.({ lines: body ?? [], failed: read.failed })
          // The attach's own reply (the first block not ours). A failed attach is followed by %exit.
          else if (!read.failed) Deferred.unsafeDone(attached, Effect.void)
          body = undefined
          return
        case "Exit":
          onNotification(read)
          return finish(read.reason || "detached")
        default:
          return onNotification(read)
      }
    }

    // A pane's output lines in a row (a flood fills whole reads with them) reach `onNotification` as one.
    const batch = new OutputBatch()
    const flushOutput = () => {
      const output = batch.take()
      if (output !== undefined) onNotification(output)
    }
    let partial: Buffer | undefined
    child.stdout.on("data", (chunk: Buffer) => {
      let data = partial === undefined ? chunk : Buffer.concat([partial, chunk])
      let start = 0
      let newline = data.indexOf(NEWLINE)
      while (newline !== -1) {
        const line = data.subarray(start, newline)
        const output = reader.output(line)
        if (output === undefined) {
          flushOutput()
          handle(line)
        } else if (!batch.add(output.pane, line, output.start, data.length - start)) {
          // Another pane's: the batch so far goes first.
          flushOutput()
          batch.add(output.pane, line, output.start, data.length - start)
        }
        start = newline + 1
        newline = data.indexOf(NEWLINE, start)
      }
      flushOutput()
      partial = start === data.length ? undefined : data.subarray(start)
      if (partial !== undefined && partial.length > Limits.controlLineBytes) {
        partial = undefined
        child.kill()
        finish("a line from tmux was too long")
      }
    })
    child.stderr.on("data", (chunk: Buffer) => (stderr = (stderr + chunk.toString("utf8")).slice(-1024)))
    child.on("error", (error) => finish(`tmux: ${error.message}`))
    child.on("close", () => finish(stderr.trim() || "tmux control client exited"))
    child.stdin.on("error", () => {})
    yield* Deferred.await(attached)

    const request = (command: string, onReply: (reply: Reply) => void) => {
      if (done || command.includes("\n") || pending.length >= Limits.controlPendingCommands) {
        return onReply({ lines: [done ? "tmux control client ended" : "command refused"], failed: true })
      }
      pending.push(onReply)
      // The commands of one turn go to tmux in one write, so it reads and runs them together (a pipe's
      // start and the captures it follows, with no read of the pane between them).
      if (!child.stdin.writableCorked) {
        child.stdin.cork()
        process.nextTick(() => child.stdin.uncork())
      }
      child.stdin.write(`${command}\n`)
    }

    return {
      request,
      run: (command) =>
        Effect.async<ReadonlyArray<string>, TmuxError>((resume) =>
          request(command, ({ failed, lines }) =>
            resume(failed ? Effect.fail(new TmuxError({ message: `${command.split(" ")[0]}: ${lines.join(" ")}` })) : Effect.succeed(lines)))
        ),
      ended: Deferred.await(ended)
    } satisfies ControlClient
  }))
