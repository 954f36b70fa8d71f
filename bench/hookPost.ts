/**
 * The baseline of `node dist/hook.js`: a bare Node program that POSTs its
 * standard input to argv[2] on a connection of its own and exits. What
 * starting a process to make one HTTP call costs on this machine.
 */
import { request } from "node:http"

const chunks: Array<Buffer> = []
process.stdin.on("data", (chunk: Buffer) => chunks.push(chunk))
process.stdin.on("end", () => {
  const body = Buffer.concat(chunks)
  const call = request(process.argv[2] ?? "", {
    method: "POST",
    agent: false,
    headers: { "content-type": "application/json", "content-length": String(body.length) }
  }, (response) => {
    response.resume()
    response.on("end", () => process.exit(response.statusCode === 204 ? 0 : 1))
  })
  call.on("error", () => process.exit(1))
  call.end(body)
})
