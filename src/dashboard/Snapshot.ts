/**
 * A terminal snapshot shown in xterm.js. xterm parses writes later, in
 * order, while `reset` and `resize` act at once: a snapshot that arrives
 * while earlier output still waits to be parsed must replace the screen
 * after that output, or the output is drawn over the fresh screen.
 */

/** What of an xterm.js terminal a snapshot needs (the browser's and the headless one both have it). */
export interface Screen {
  write(data: string | Uint8Array, callback?: () => void): void
  reset(): void
  resize(cols: number, rows: number): void
}

/** Replaces the screen with `data` at `cols`×`rows`, in order with earlier writes; `shown` runs once it is drawn. */
export const showSnapshot = (screen: Screen, cols: number, rows: number, data: string, shown: () => void): void => {
  screen.write("", () => {
    screen.reset()
    screen.resize(cols, rows)
  })
  screen.write(data, shown)
}
