/**
 * Sessions opened as live terminals (xterm.js), one tab each, filling the
 * window. A terminal attaches with its size, gets a snapshot of the screen
 * and then every byte the pane writes; what is typed or pasted goes to the
 * pane as keys. After a lost connection each terminal attaches again from the
 * last position it applied: the daemon sends what was missed, or a fresh
 * snapshot. Loaded on first use (`import()`), so the page starts without xterm.
 */
import { FitAddon } from "@xterm/addon-fit"
import { Terminal } from "@xterm/xterm"
import { Limits } from "../domain/Limits.js"
import type { ClientMessage, TerminalEvent } from "../domain/Protocol.js"
import { el, setText } from "./Dom.js"
import { showSnapshot } from "./Snapshot.js"

/** A terminal whose session could not be reached (its computer restarting, say) tries again this often. */
const RETRY_UNAVAILABLE_MS = 3000

export type Send = (message: ClientMessage) => void

/** Where a terminal is: attaching (or attaching again), live, or closed by the daemon for a reason. */
type TerminalState = "attaching" | "live" | "ended" | "not_found" | "unavailable" | "offline"

interface OpenTerminal {
  readonly sessionId: string
  readonly computer: string
  readonly tab: HTMLElement
  readonly label: HTMLElement
  readonly pane: HTMLElement
  readonly term: Terminal
  readonly fit: FitAddon
  /** The last position applied: where a new attach resumes from. */
  position: string | undefined
}

export interface TerminalsHost {
  /** Where tab buttons go. */
  readonly tabs: HTMLElement
  /** Where terminal panes go; shown by `show`. */
  readonly panes: HTMLElement
  /** Shows the terminals view (`true`), or the sessions view when the last terminal is closed. */
  readonly show: (terminals: boolean) => void
}

const fromBase64 = (text: string): Uint8Array => Uint8Array.from(atob(text), (c) => c.charCodeAt(0))

export const terminals = (host: TerminalsHost) => {
  const open = new Map<string, OpenTerminal>()
  let selected: OpenTerminal | undefined
  let send: Send | undefined

  const setState = (terminal: OpenTerminal, state: TerminalState) => {
    terminal.pane.dataset["state"] = state
    terminal.tab.dataset["state"] = state
  }

  const attach = (terminal: OpenTerminal) => {
    setState(terminal, "attaching")
    send?.({
      type: "attach",
      sessionId: terminal.sessionId,
      computer: terminal.computer,
      cols: terminal.term.cols,
      rows: terminal.term.rows,
      ...(terminal.position === undefined ? {} : { from: terminal.position })
    })
  }

  /** Fits the selected terminal to its pane; a new size is the pane's new size (the viewer who resizes last sets it). */
  const fitSelected = () => {
    const terminal = selected
    if (terminal === undefined || terminal.pane.hidden) return
    const size = terminal.fit.proposeDimensions()
    if (size === undefined || !Number.isFinite(size.cols) || !Number.isFinite(size.rows)) return
    const cols = Math.max(2, size.cols)
    const rows = Math.max(2, size.rows)
    if (cols === terminal.term.cols && rows === terminal.term.rows) return
    terminal.term.resize(cols, rows)
    send?.({ type: "resize", sessionId: terminal.sessionId, cols, rows })
  }

  const select = (terminal: OpenTerminal | undefined) => {
    selected = terminal
    for (const other of open.values()) {
      const chosen = other === terminal
      other.pane.hidden = !chosen
      other.tab.setAttribute("aria-pressed", String(chosen))
    }
    if (terminal === undefined) return
    host.show(true)
    fitSelected()
    terminal.term.focus()
  }

  const close = (terminal: OpenTerminal) => {
    send?.({ type: "detach", sessionId: terminal.sessionId })
    open.delete(terminal.sessionId)
    terminal.term.dispose()
    terminal.tab.remove()
    terminal.pane.remove()
    if (selected !== terminal) return
    const next = [...open.values()].at(-1)
    select(next)
    if (next === undefined) host.show(false)
  }

  const create = (sessionId: string, computer: string, title: string): OpenTerminal => {
    const label = el("span", { class: "terminal-title" }, title)
    const closeButton = el("button", { type: "button", class: "terminal-close", "data-testid": "terminal-close", "aria-label": "close" }, "×")
    const tab = el(
      "span",
      { class: "terminal-tab", role: "button", tabindex: "0", "data-testid": "terminal-tab", "data-session-id": sessionId },
      label,
      closeButton
    )
    const pane = el("div", { class: "terminal", "data-testid": "terminal", "data-session-id": sessionId, "data-computer": computer })
    host.tabs.append(tab)
    host.panes.append(pane)
    const term = new Terminal({
      scrollback: Limits.dashboardScrollback,
      cursorBlink: true,
      fontFamily: "ui-monospace, SFMono-Regular, Menlo, Consolas, monospace",
      fontSize: 14,
      theme: { background: "#111418" }
    })
    const fit = new FitAddon()
    term.loadAddon(fit)
    term.open(pane)
    const terminal: OpenTerminal = { sessionId, computer, tab, label, pane, term, fit, position: undefined }
    // Keys, pastes and escape sequences go to the pane as they are.
    term.onData((data) => send?.({ type: "keys", sessionId, data }))
    // Bytes that are not UTF-8 text (legacy mouse reports).
    term.onBinary((data) => send?.({ type: "keys", sessionId, data: btoa(data), encoding: "base64" }))
    tab.addEventListener("click", () => select(terminal))
    tab.addEventListener("keydown", (event) => {
      if (event.key === "Enter" || event.key === " ") select(terminal)
    })
    closeButton.addEventListener("click", (event) => {
      event.stopPropagation()
      close(terminal)
    })
    open.set(sessionId, terminal)
    return terminal
  }

  new ResizeObserver(fitSelected).observe(host.panes)

  return {
    /** Opens a session's terminal (or selects it when it is open already). */
    open: (sessionId: string, computer: string, title: string) => {
      const found = open.get(sessionId)
      if (found !== undefined) return select(found)
      const terminal = create(sessionId, computer, title)
      select(terminal)
      attach(terminal)
    },
    /** Another view was chosen; terminals stay attached. */
    hide: () => select(undefined),
    titleChanged: (sessionId: string, title: string) => {
      const terminal = open.get(sessionId)
      if (terminal !== undefined) setText(terminal.label, title)
    },
    /** A (new) connection: every open terminal attaches on it, from where it was. */
    connected: (sender: Send) => {
      send = sender
      for (const terminal of open.values()) {
        if (terminal.pane.dataset["state"] !== "ended") attach(terminal)
      }
    },
    disconnected: () => {
      send = undefined
      for (const terminal of open.values()) {
        if (terminal.pane.dataset["state"] !== "ended") setState(terminal, "attaching")
      }
    },
    event: (event: TerminalEvent) => {
      const terminal = open.get(event.data.sessionId)
      if (terminal === undefined) return
      switch (event.event) {
        case "terminal_snapshot":
          // The pane keeps the size of whoever sized it last; a viewer whose window differs says its own.
          showSnapshot(terminal.term, event.data.cols, event.data.rows, event.data.data, () => {
            if (terminal === selected) fitSelected()
          })
          terminal.position = event.data.position
          setState(terminal, "live")
          return
        case "terminal_output":
          terminal.term.write(fromBase64(event.data.data))
          terminal.position = event.data.position
          return
        case "terminal_resized": {
          // After the output before it is drawn (xterm parses writes later), so that output keeps the old size.
          const { cols, rows } = event.data
          terminal.term.write("", () => terminal.term.resize(cols, rows))
          return
        }
        case "terminal_closed":
          if (event.data.reason === "detached") return
          setState(terminal, event.data.reason)
          terminal.term.write(`\r\n\x1b[2m[${event.data.message}]\x1b[0m\r\n`)
          if (event.data.reason === "unavailable") {
            setTimeout(() => {
              if (open.get(terminal.sessionId) === terminal && terminal.pane.dataset["state"] === "unavailable") attach(terminal)
            }, RETRY_UNAVAILABLE_MS)
          }
          return
      }
    }
  }
}

export type Terminals = ReturnType<typeof terminals>
