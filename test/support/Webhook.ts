/**
 * A webhook receiver a test runs: a local HTTP server recording every POST
 * (its JSON body), answering each try as the test says: a status, or never
 * (the connection is held open until the server stops).
 */
import { Effect, type Scope } from "effect"
import { createServer, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"

export interface Received {
  readonly body: any
}

export interface Webhook {
  readonly url: string
  /** Every POST so far, in arrival order. */
  readonly received: () => ReadonlyArray<Received>
}

export const webhook = (answer: (attempt: number) => number | "never"): Effect.Effect<Webhook, never, Scope.Scope> =>
  Effect.gen(function*() {
    const received: Array<Received> = []
    const held: Array<ServerResponse> = []
    const server = createServer((request, response) => {
      const chunks: Array<Buffer> = []
      request.on("data", (chunk: Buffer) => chunks.push(chunk))
      request.on("end", () => {
        received.push({ body: JSON.parse(Buffer.concat(chunks).toString("utf8")) })
        const status = answer(received.length)
        if (status === "never") held.push(response)
        else response.writeHead(status).end()
      })
    })
    yield* Effect.acquireRelease(
      Effect.async<void>((resume) => void server.listen(0, "127.0.0.1", () => resume(Effect.void))),
      () =>
        Effect.async<void>((resume) => {
          for (const response of held) response.destroy()
          server.closeAllConnections()
          server.close(() => resume(Effect.void))
        })
    )
    return {
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
      received: () => [...received]
    }
  })
