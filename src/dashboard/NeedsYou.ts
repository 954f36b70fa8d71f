/**
 * "Needs you": above everything, every agent session of the fleet waiting
 * for its person, oldest first, with its computer, project, reason and
 * summary; for a permission or a numbered choice, the answers as buttons
 * that type the right keys into that exact pane, on whichever computer it
 * runs; "Open" opens its live terminal. A card leaves as soon as the agent
 * moves on. When a session starts waiting, a browser notification says so
 * (once the person allowed them).
 */
import type { AgentStatus, Session } from "../domain/Model.js"
import { sessionFragment } from "../domain/SessionLink.js"
import { api } from "./Api.js"
import { byTestId, el, setText, syncChildren } from "./Dom.js"
import { reportErrors } from "./ErrorBanner.js"
import { ago } from "./Format.js"
import { type FleetState, keyOf, projectName } from "./State.js"

interface Card {
  readonly root: HTMLElement
  readonly where: HTMLElement
  readonly title: HTMLElement
  readonly reason: HTMLElement
  readonly summary: HTMLElement
  readonly since: HTMLElement
  readonly conflict: HTMLElement
  readonly choices: HTMLElement
  /** The answers the buttons show now, so unchanged buttons are kept. */
  offered: string
}

/** Waiting by its state, or by its screen when hooks say otherwise: the person should look either way. */
const waitingReading = (agent: AgentStatus) =>
  agent.state === "waiting" ? agent : agent.conflict?.state === "waiting" ? agent.conflict : undefined

export const needsYou = (session: Session): boolean => session.agent !== undefined && waitingReading(session.agent) !== undefined

const pathOf = (session: Session) => `/sessions/${encodeURIComponent(session.sessionId)}`

const newCard = (session: Session): Card => {
  const where = el("span", { class: "needs-where", "data-testid": "needs-where" })
  const title = el("span", { class: "session-title", "data-testid": "needs-title" })
  const reason = el("span", { "data-testid": "needs-reason" })
  const since = el("span", { class: "needs-since", "data-testid": "needs-since" })
  const summary = el("p", { class: "needs-summary", "data-testid": "needs-summary" })
  const conflict = el("p", { class: "needs-conflict", "data-testid": "needs-conflict" })
  const choices = el("div", { class: "needs-choices", "data-testid": "needs-choices" })
  // The page follows the link (main.ts), so "Open" is the same address a notification links to.
  const open = el("a", { class: "needs-open", "data-testid": "needs-open", href: sessionFragment(session) }, "Open")
  const root = el(
    "article",
    { class: "needs-card", "data-testid": "needs-card", "data-session-id": session.sessionId, "data-computer": session.computer },
    el("div", { class: "needs-head" }, reason, title, since),
    where,
    summary,
    conflict,
    el("div", { class: "needs-actions" }, choices, open)
  )
  return { root, where, title, reason, summary, since, conflict, choices, offered: "" }
}

const answerButton = (session: Session, label: string, keys: string) => {
  const button = el("button", { type: "button", class: "needs-choice", "data-testid": "needs-choice", "data-keys": keys }, label)
  button.addEventListener("click", () => {
    button.disabled = true
    void reportErrors(api("POST", `${pathOf(session)}/input`, { text: keys })).finally(() => {
      button.disabled = false
    })
  })
  return button
}

const updateCard = (card: Card, state: FleetState, session: Session, agent: AgentStatus, now: number) => {
  const waiting = waitingReading(agent)!
  setText(card.reason, waiting.reason ?? "waiting")
  card.reason.className = `badge waiting ${waiting.reason ?? ""}`
  setText(card.title, `${session.title === "" ? session.sessionId : session.title} · ${agent.name}`)
  setText(card.where, `${session.computer} · ${projectName(state, session.computer, session.projectPath)}`)
  setText(card.since, ago(agent.since, now))
  setText(card.summary, agent.summary)
  setText(card.conflict, agent.conflict === null ? "" : `hooks say ${agent.state}, the screen shows ${agent.conflict.state}${agent.conflict.reason === null ? "" : ` (${agent.conflict.reason})`}`)
  card.conflict.hidden = agent.conflict === null
  const offered = JSON.stringify(agent.choices)
  if (offered !== card.offered) {
    card.offered = offered
    card.choices.replaceChildren(...agent.choices.map((choice) => answerButton(session, choice.label, choice.keys)))
  }
}

/** Asks for notifications only on a click (browsers refuse otherwise), and only while undecided. */
const notificationsButton = () => {
  const button = byTestId<HTMLButtonElement>("needs-notify")
  const sync = () => {
    button.hidden = typeof Notification === "undefined" || Notification.permission !== "default"
  }
  button.addEventListener("click", () => void Notification.requestPermission().then(sync, sync))
  sync()
}

export const needsYouView = () => {
  const cards = new Map<string, Card>()
  const list = byTestId("needs-list")
  const section = byTestId("needs-you")
  const count = byTestId("needs-count")
  /** Every session of the last render, with the `since` it was waiting from (null: not waiting). */
  let known = new Map<string, number | null>()
  notificationsButton()

  const notify = (session: Session, agent: AgentStatus) => {
    if (typeof Notification === "undefined" || Notification.permission !== "granted") return
    const reading = waitingReading(agent)!
    const body = `${reading.reason ?? "waiting"}${agent.summary === "" ? "" : `: ${agent.summary}`}`
    new Notification(`${session.title === "" ? session.sessionId : session.title} on ${session.computer} needs you`, {
      body,
      tag: keyOf(session.computer, session.sessionId)
    })
  }

  const render = (state: FleetState, now: number) => {
    const next = new Map<string, number | null>()
    for (const session of state.sessions.values()) {
      const key = keyOf(session.computer, session.sessionId)
      const since = needsYou(session) ? session.agent!.since : null
      next.set(key, since)
      // A session this page already knew, now waiting anew: it started waiting (not merely appeared so).
      if (since !== null && known.has(key) && known.get(key) !== since) notify(session, session.agent!)
    }
    known = next
    const waiting = [...state.sessions.values()]
      .filter(needsYou)
      .sort((a, b) => a.agent!.since - b.agent!.since || (a.sessionId < b.sessionId ? -1 : 1))
    const roots = waiting.map((session) => {
      const key = keyOf(session.computer, session.sessionId)
      let card = cards.get(key)
      if (card === undefined) {
        card = newCard(session)
        cards.set(key, card)
      }
      updateCard(card, state, session, session.agent!, now)
      return card.root
    })
    const shown = new Set(waiting.map((s) => keyOf(s.computer, s.sessionId)))
    for (const key of cards.keys()) if (!shown.has(key)) cards.delete(key)
    syncChildren(list, roots)
    setText(count, String(roots.length))
    section.hidden = roots.length === 0
  }
  return { render }
}
