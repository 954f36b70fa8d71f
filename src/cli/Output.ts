/** Where the client commands write: the process's stdout and stderr, or a test's buffers. */
import { Context, Effect, Layer } from "effect"

export interface ClientOutputService {
  /** Writes text to standard output as it is (no newline added). */
  readonly stdout: (text: string) => Effect.Effect<void>
  readonly stderr: (text: string) => Effect.Effect<void>
  /** Width of the terminal, when standard output is one. */
  readonly columns: Effect.Effect<number | undefined>
}

export class ClientOutput extends Context.Tag("termfleet/ClientOutput")<ClientOutput, ClientOutputService>() {
  static readonly live = Layer.succeed(ClientOutput, {
    stdout: (text) => Effect.sync(() => void process.stdout.write(text)),
    stderr: (text) => Effect.sync(() => void process.stderr.write(text)),
    columns: Effect.sync(() => process.stdout.isTTY ? process.stdout.columns : undefined)
  })
}

export const printLine = (text: string) => Effect.flatMap(ClientOutput, (output) => output.stdout(`${text}\n`))
export const printError = (text: string) => Effect.flatMap(ClientOutput, (output) => output.stderr(`${text}\n`))
