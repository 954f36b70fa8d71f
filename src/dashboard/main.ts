/**
 * The dashboard page's script (bundled by `npm run build` into
 * dist/dashboard/): keeps the fleet's state from the `/ws` frames and renders
 * it at most once per animation frame; sessions opened as terminals are
 * handed their own frames (`Terminals.ts`, loaded on first use). An address
 * ending in `#session=<computer>/<id>` (`SessionLink.ts`) opens that
 * session's terminal, on load or when the fragment changes.
 */
import "./style.css"
import type { Session, SessionRef } from "../domain/Model.js"
import type { ServerEvent, TerminalEvent } from "../domain/Protocol.js"
import { sessionOfFragment } from "../domain/SessionLink.js"
import { selfName } from "./Api.js"
import { connect } from "./Connection.js"
import { byTestId } from "./Dom.js"
import { showError, wireErrorBanner } from "./ErrorBanner.js"
import { newSessionForm } from "./NewSessionForm.js"
import { preparationView } from "./PreparationView.js"
import { renderLoop } from "./RenderLoop.js"
import { needsYouView } from "./NeedsYou.js"
import { sessionsView } from "./SessionsView.js"
import { applyEvent, emptyState, keyOf } from "./State.js"
import type { Send, Terminals } from "./Terminals.js"
import { views } from "./Views.js"

const isTerminalEvent = (event: ServerEvent): event is TerminalEvent =>
  event.event === "terminal_snapshot" || event.event === "terminal_output" ||
  event.event === "terminal_resized" || event.event === "terminal_closed"

let send: Send | undefined
let terminals: Promise<Terminals> | undefined
const view = views(() => void terminals?.then((t) => t.hide()))
const loadTerminals = () =>
  terminals ??= import("./Terminals.js").then(({ terminals: make }) => {
    const made = make({
      tabs: byTestId("terminal-tabs"),
      panes: byTestId("terminals-view"),
      show: (on) => view.show(on ? "terminals" : "sessions")
    })
    if (send !== undefined) made.connected(send)
    return made
  })
const openTerminal = (session: Session) =>
  void loadTerminals().then(
    (t) => t.open(session.sessionId, session.computer, session.title === "" ? session.sessionId : session.title),
    (error: Error) => showError(`the terminal could not be loaded: ${error.message}`)
  )

const state = emptyState()

/** The session the address asked for, opened once the fleet's sessions are listed. */
let wanted: SessionRef | undefined
const openWanted = () => {
  if (wanted === undefined || !state.listed) return
  const session = state.sessions.get(keyOf(wanted.computer, wanted.sessionId))
  if (session === undefined) showError(`there is no session ${wanted.sessionId} on ${wanted.computer} (it may have ended)`)
  else openTerminal(session)
  wanted = undefined
}
const followFragment = () => {
  const asked = sessionOfFragment(location.hash)
  if (asked === undefined) return
  wanted = asked
  // Taken, then cleared: following the same link again is a change of fragment, so it opens again.
  history.replaceState(null, "", location.pathname + location.search)
  openWanted()
}

const needsYou = needsYouView()
const sessions = sessionsView(openTerminal)
const preparation = preparationView()
const loop = renderLoop(() => {
  const now = Date.now()
  openWanted()
  needsYou.render(state, now)
  sessions.render(state, now)
  form.render(state, now)
  preparation.render(state)
})
const form = newSessionForm(loop.schedule)

wireErrorBanner()
connect({
  opened: (sender) => {
    send = sender
    state.connected = true
    sender({ type: "subscribe", topic: "sessions" })
    sender({ type: "subscribe", topic: "preparation" })
    void terminals?.then((t) => t.connected(sender))
    selfName().then((name) => {
      state.self = name
      loop.schedule()
    }, (error: Error) => showError(error.message))
  },
  event: (event) => {
    // In order: every terminal event waits on the same loaded module.
    if (isTerminalEvent(event)) return void terminals?.then((t) => t.event(event))
    const applied = applyEvent(state, event, Date.now())
    if (applied._tag === "error") showError(applied.message)
    else if (applied._tag === "changed") loop.schedule()
  },
  closed: () => {
    send = undefined
    state.connected = false
    void terminals?.then((t) => t.disconnected())
    loop.schedule()
  }
})
window.addEventListener("hashchange", followFragment)
followFragment()
loop.schedule()
// Relative times and offline computers change with time alone.
setInterval(loop.schedule, 5000)
