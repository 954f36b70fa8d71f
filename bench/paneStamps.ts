/**
 * Runs in a tmux pane for the live-terminal figures. `stamps N GAP`: writes
 * N lines `S<hrNow>`, GAP ms apart, each stamped just before it is written;
 * `burst BYTES`: writes BYTES of text as fast as the pane takes them, then
 * `E<hrNow>`.
 */
import { BURST_LINE, hrNow, sleep } from "./support.js"

const [mode, first = "0", second = "0"] = process.argv.slice(2)
const write = (text: string) => new Promise<void>((resolve) => process.stdout.write(text, () => resolve()))

if (mode === "stamps") {
  for (let i = 0; i < Number(first); i++) {
    await write(`S${hrNow().toFixed(3)}\n`)
    await sleep(Number(second))
  }
} else {
  const chunk = BURST_LINE.repeat(Math.ceil(65_536 / BURST_LINE.length))
  let left = Number(first)
  while (left > 0) {
    const piece = chunk.slice(0, Math.min(left, chunk.length))
    await write(piece)
    left -= piece.length
  }
  await write(`E${hrNow().toFixed(3)}\n`)
}
