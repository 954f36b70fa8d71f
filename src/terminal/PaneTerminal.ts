/**
 * The live terminal state of one watched pane, kept in step with its output:
 * a headless xterm.js terminal fed every byte the pane writes, numbered by
 * position (`<epoch>-<offset>`), and the latest bytes held in a bounded
 * buffer so a viewer can be given a snapshot at a known position and then
 * exactly the bytes after it, or resume from the position it last saw.
 *
 * A mirror of another computer's pane (`RemotePanes`) relays: it keeps the
 * bytes and the viewers' positions but parses nothing, and a viewer that
 * needs a snapshot gets one its owner takes, asked for with `ask`, at this
 * terminal's position: a flooding pane costs the viewer's daemon no
 * xterm.js parse.
 *
 * Plain synchronous code: it is fed from the pane's reader; viewers are sent
 * what is new once per turn of the event loop, coalesced.
 */
import { SerializeAddon } from "@xterm/addon-serialize"
import xtermHeadless from "@xterm/headless"
import { Limits } from "../domain/Limits.js"
import { formatPosition, type Position, parsePosition } from "../domain/TerminalProtocol.js"

export interface ViewerSink {
  readonly snapshot: (position: Position, cols: number, rows: number, data: string) => void
  /**
   * The bytes after the viewer's last position, up to `position`: at most `terminalOutputFrameBytes`, and
   * `base64`, their base64, made once for every viewer given them (a local one's frame, a peer's entry).
   */
  readonly output: (position: Position, data: Buffer, base64: () => string) => void
  readonly resized: (cols: number, rows: number) => void
}

interface Viewer {
  readonly sink: ViewerSink
  /** Offset of the last byte this viewer was sent; `undefined` while its snapshot is being taken. */
  cursor: number | undefined
}

interface Chunk {
  readonly start: number
  readonly data: Buffer
}

/** The screen of a pane, taken by its owner: what a relaying mirror gives its viewers. */
interface OwnersSnapshot {
  readonly offset: number
  readonly cols: number
  readonly rows: number
  readonly data: string
}

interface Frame {
  readonly position: Position
  readonly data: Buffer
  readonly base64: () => string
}

/**
 * `data`, the bytes after `cursor`, in frames of a bounded size: their text stays in V8's young generation,
 * freed by scavenges alone (a larger string goes to the large-object space, which only a full collection frees).
 */
const framesOf = (epoch: number, cursor: number, data: Buffer): ReadonlyArray<Frame> => {
  const frames: Array<Frame> = []
  for (let at = 0; at < data.length; at += Limits.terminalOutputFrameBytes) {
    const part = data.subarray(at, at + Limits.terminalOutputFrameBytes)
    let base64: string | undefined
    frames.push({ position: formatPosition(epoch, cursor + at + part.length), data: part, base64: () => (base64 ??= part.toString("base64")) })
  }
  return frames
}

/** How long a pane whose parse was given up must be quiet before its state is built again. */
const QUIET_MILLIS = 1_000

export class PaneTerminal {
  /** Undefined in a relaying mirror. */
  private readonly term: InstanceType<typeof xtermHeadless.Terminal> | undefined
  private readonly serializer = new SerializeAddon()
  /** A relaying mirror's latest snapshot from the owner, good while nothing came after it. */
  private owners: OwnersSnapshot | undefined
  /** A relaying mirror's viewers waiting for the owner's snapshot. */
  private readonly waiting = new Set<Viewer>()
  private readonly held: Array<Chunk> = []
  private heldBytes = 0
  private unparsed = 0
  private readonly viewers = new Set<Viewer>()
  private flushing = false
  private disposed = false
  /** Parsing fell too far behind: nothing more is parsed, the bytes still go to viewers. */
  private stale = false
  /** The owner was asked to build a new state: nothing more is taken. */
  private overflowed = false
  /** While stale: the owner is asked for a new state once the pane is quiet. */
  private quiet: ReturnType<typeof setTimeout> | undefined

  constructor(
    readonly epoch: number,
    private cols: number,
    private rows: number,
    replay: string,
    /**
     * The state can no longer be kept exactly (parsing fell too far behind): rebuild it. Asked once a snapshot
     * is needed, or the pane has been quiet for `QUIET_MILLIS`: until then its viewers go on getting its bytes.
     */
    private readonly onOverflow: () => void,
    /** Where `replay` leaves the pane's output: 0 for a state built here, a peer's position for a mirror of its pane. */
    private offset = 0,
    /** Given, the terminal relays: `replay` is the owner's snapshot, and `ask` asks the owner for a fresh one. */
    private readonly ask?: () => void
  ) {
    if (ask !== undefined) {
      this.term = undefined
      this.owners = { offset, cols, rows, data: replay }
      return
    }
    this.term = new xtermHeadless.Terminal({ cols, rows, scrollback: Limits.terminalScrollback, allowProposedApi: true })
    this.term.loadAddon(this.serializer)
    this.term.write(replay)
  }

  /** The owner's snapshot at `position` (a relaying mirror's ask answered): viewers waiting for one get it. */
  ownersSnapshot(position: Position, cols: number, rows: number, data: string): void {
    const [epoch, offset] = parsePosition(position)
    if (this.term !== undefined || this.disposed || epoch !== this.epoch || offset !== this.offset) return
    this.owners = { offset, cols, rows, data }
    for (const viewer of this.waiting) this.snapshotFor(viewer)
  }

  /** A relaying mirror has viewers waiting for the owner's snapshot (an ask may have been lost: ask again). */
  get asking(): boolean {
    return this.waiting.size > 0
  }

  get size(): { readonly cols: number; readonly rows: number } {
    return { cols: this.cols, rows: this.rows }
  }

  get position(): Position {
    return formatPosition(this.epoch, this.offset)
  }

  /** Output bytes held for viewers, and those the terminal has not parsed yet (mostly the same buffers). */
  get usage(): { readonly held: number; readonly unparsed: number } {
    return { held: this.heldBytes, unparsed: this.unparsed }
  }

  get viewerCount(): number {
    return this.viewers.size
  }

  /** The pane wrote `data` (a buffer of its own: it is kept). */
  feed(data: Buffer): void {
    if (this.disposed || this.overflowed || data.length === 0) return
    this.held.push({ start: this.offset, data })
    this.offset += data.length
    this.heldBytes += data.length
    while (this.heldBytes > Limits.terminalHeldBytes && this.held.length > 1) this.heldBytes -= this.held.shift()!.data.length
    if (this.term === undefined) {
      this.owners = undefined
      return this.scheduleFlush()
    }
    if (this.stale) {
      clearTimeout(this.quiet)
      this.quiet = setTimeout(() => this.rebuild(), QUIET_MILLIS)
      return this.scheduleFlush()
    }
    this.unparsed += data.length
    this.term.write(data, () => (this.unparsed -= data.length))
    // A burst the parser cannot keep up with (a busy machine): the state is given up, not the viewers.
    if (this.unparsed > Limits.terminalUnparsedBytes) {
      this.stale = true
      this.quiet = setTimeout(() => this.rebuild(), QUIET_MILLIS)
    }
    this.scheduleFlush()
  }

  /** Asks the owner, once, for a new state. */
  private rebuild(): void {
    clearTimeout(this.quiet)
    if (this.overflowed || this.disposed) return
    this.overflowed = true
    this.onOverflow()
  }

  /**
   * The pane's size changed: taken in order with the output, so bytes before
   * it are parsed, and reach each viewer, at the old size. A viewer still
   * waiting for its snapshot gets it at the new size.
   */
  resize(cols: number, rows: number): void {
    if (this.disposed || (cols === this.cols && rows === this.rows)) return
    this.flush()
    this.cols = cols
    this.rows = rows
    const term = this.term
    if (term === undefined) this.owners = undefined
    else term.write("", () => term.resize(cols, rows))
    for (const viewer of this.viewers) if (viewer.cursor !== undefined) viewer.sink.resized(cols, rows)
  }

  /**
   * Adds a viewer. With `from` a position of this epoch whose following bytes
   * are all still held, it is sent exactly those; otherwise a snapshot, then
   * every byte after it.
   */
  addViewer(sink: ViewerSink, from?: Position): () => void {
    const viewer: Viewer = { sink, cursor: undefined }
    this.viewers.add(viewer)
    const resumable = from === undefined ? undefined : this.resumeOffset(from)
    if (resumable === undefined) {
      this.snapshotFor(viewer)
    } else {
      viewer.cursor = resumable
      this.scheduleFlush()
    }
    return () => {
      this.viewers.delete(viewer)
      this.waiting.delete(viewer)
    }
  }

  /**
   * Gives the viewer of `sink` a fresh snapshot, after the bytes it was not
   * sent yet (so the snapshot continues where its output ended).
   */
  resnapshot(sink: ViewerSink): void {
    const viewer = [...this.viewers].find((v) => v.sink === sink)
    if (viewer === undefined || viewer.cursor === undefined) return
    this.flush()
    viewer.cursor = undefined
    this.snapshotFor(viewer)
  }

  /** Gives every viewer a fresh snapshot (after the state was rebuilt elsewhere, viewers move here). */
  adoptViewers(sinks: Iterable<ViewerSink>): Array<() => void> {
    return [...sinks].map((sink) => this.addViewer(sink))
  }

  get sinks(): ReadonlyArray<ViewerSink> {
    return [...this.viewers].map((viewer) => viewer.sink)
  }

  dispose(): void {
    this.disposed = true
    clearTimeout(this.quiet)
    this.viewers.clear()
    this.waiting.clear()
    this.held.length = 0
    this.heldBytes = 0
    this.term?.dispose()
  }

  private resumeOffset(from: Position): number | undefined {
    const [epoch, offset] = parsePosition(from)
    const oldest = this.held[0]?.start ?? this.offset
    return epoch === this.epoch && offset >= oldest && offset <= this.offset ? offset : undefined
  }

  /** The screen once everything written so far is parsed, and that position; a relaying mirror's from the owner. */
  private snapshotFor(viewer: Viewer): void {
    if (this.term === undefined) return this.relaySnapshot(viewer)
    // No exact screen to give: the owner builds a new state, whose snapshot every viewer gets.
    if (this.stale) return this.rebuild()
    const term = this.term
    const at = this.offset
    term.write("", () => {
      if (this.disposed || !this.viewers.has(viewer)) return
      const oldest = this.held[0]?.start ?? this.offset
      // The bytes after the snapshot must still be held; if a flood pushed them out, another one. A resize
      // queued after this snapshot was asked for is not parsed yet: another one, after it, at the new size.
      if (at < oldest || term.cols !== this.cols || term.rows !== this.rows) return this.snapshotFor(viewer)
      viewer.sink.snapshot(formatPosition(this.epoch, at), this.cols, this.rows, this.serializer.serialize())
      viewer.cursor = at
      this.scheduleFlush()
    })
  }

  private relaySnapshot(viewer: Viewer): void {
    const owners = this.owners
    if (owners === undefined || owners.offset !== this.offset) {
      this.waiting.add(viewer)
      return this.ask!()
    }
    this.waiting.delete(viewer)
    viewer.sink.snapshot(formatPosition(this.epoch, owners.offset), owners.cols, owners.rows, owners.data)
    viewer.cursor = owners.offset
    this.scheduleFlush()
  }

  private scheduleFlush(): void {
    if (this.flushing) return
    this.flushing = true
    setImmediate(() => {
      this.flushing = false
      this.flush()
    })
  }

  /** Sends each viewer the bytes after its cursor; viewers at the same cursor share one buffer and its base64. */
  private flush(): void {
    if (this.disposed) return
    const byCursor = new Map<number, ReadonlyArray<Frame> | null>()
    for (const viewer of this.viewers) {
      const cursor = viewer.cursor
      if (cursor === undefined || cursor === this.offset) continue
      let frames = byCursor.get(cursor)
      if (frames === undefined) {
        const data = this.bytesAfter(cursor)
        frames = data === null ? null : framesOf(this.epoch, cursor, data)
        byCursor.set(cursor, frames)
      }
      if (frames === null) {
        // Fell behind what is held: a snapshot instead.
        viewer.cursor = undefined
        this.snapshotFor(viewer)
        continue
      }
      viewer.cursor = this.offset
      for (const frame of frames) viewer.sink.output(frame.position, frame.data, frame.base64)
    }
  }

  /** The held bytes after `cursor`, or null when some were already let go. Viewers are mostly near the end: searched from there. */
  private bytesAfter(cursor: number): Buffer | null {
    let first = this.held.length - 1
    while (first > 0 && this.held[first]!.start > cursor) first--
    const chunk = this.held[first]
    if (chunk === undefined || chunk.start > cursor) return null
    const parts = this.held.slice(first).map((held) => held.data)
    parts[0] = parts[0]!.subarray(cursor - chunk.start)
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts)
  }
}
