/**
 * The dashboard page's script (bundled by `npm run build` into
 * dist/dashboard/): keeps the fleet's state from the `/ws` frames and renders
 * it at most once per animation frame.
 */
import "./style.css"
import { selfName } from "./Api.js"
import { connect } from "./Connection.js"
import { showError, wireErrorBanner } from "./ErrorBanner.js"
import { newSessionForm } from "./NewSessionForm.js"
import { preparationView } from "./PreparationView.js"
import { renderLoop } from "./RenderLoop.js"
import { sessionsView } from "./SessionsView.js"
import { applyEvent, emptyState } from "./State.js"
import { wireTabs } from "./Tabs.js"

const state = emptyState()
const sessions = sessionsView()
const preparation = preparationView()
const loop = renderLoop(() => {
  const now = Date.now()
  sessions.render(state, now)
  form.render(state, now)
  preparation.render(state)
})
const form = newSessionForm(loop.schedule)

wireTabs()
wireErrorBanner()
connect({
  opened: (send) => {
    state.connected = true
    send({ type: "subscribe", topic: "sessions" })
    send({ type: "subscribe", topic: "preparation" })
    selfName().then((name) => {
      state.self = name
      loop.schedule()
    }, (error: Error) => showError(error.message))
  },
  event: (event) => {
    const applied = applyEvent(state, event, Date.now())
    if (applied._tag === "error") showError(applied.message)
    else if (applied._tag === "changed") loop.schedule()
  },
  closed: () => {
    state.connected = false
    loop.schedule()
  }
})
loop.schedule()
// Relative times and offline computers change with time alone.
setInterval(loop.schedule, 5000)
