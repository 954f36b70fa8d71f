/**
 * The Sessions view: one section per computer, one group per project, one
 * card per session. Sections, groups and cards are kept and updated in
 * place, so a render never takes away the text someone is typing into a card.
 */
import type { Session } from "../domain/Model.js"
import { api } from "./Api.js"
import { badge, byTestId, el, setText, syncChildren } from "./Dom.js"
import { reportErrors } from "./ErrorBanner.js"
import { ago } from "./Format.js"
import { type FleetState, groupByComputer, isOnline, keyOf, projectName } from "./State.js"

interface ComputerSection {
  readonly root: HTMLElement
  readonly status: HTMLElement
  readonly groups: HTMLElement
  readonly empty: HTMLElement
}

interface ProjectGroup {
  readonly root: HTMLElement
  readonly heading: HTMLElement
  readonly list: HTMLElement
}

interface SessionCard {
  readonly root: HTMLElement
  readonly status: HTMLElement
  readonly title: HTMLElement
  readonly command: HTMLElement
  readonly activity: HTMLElement
  readonly output: HTMLElement
  /** Tells the card's handlers the session's latest state. */
  readonly update: (session: Session) => void
}

const byCreation = (a: Session, b: Session) => a.createdAt - b.createdAt || (a.sessionId < b.sessionId ? -1 : 1)
const nullsLast = (a: string | null, b: string | null) =>
  a === b ? 0 : a === null ? 1 : b === null ? -1 : a < b ? -1 : 1

const keepOnly = <K, V>(map: Map<K, V>, keys: ReadonlySet<K>) => {
  for (const key of map.keys()) if (!keys.has(key)) map.delete(key)
}

const newSection = (name: string): ComputerSection => {
  const status = el("span", { "data-testid": "computer-status" })
  const groups = el("div")
  const empty = el("p", { class: "empty" }, "no sessions")
  const root = el(
    "section",
    { class: "computer", "data-testid": "computer", "data-computer": name },
    el("div", { class: "computer-head" }, el("h2", {}, name), status),
    groups
  )
  return { root, status, groups, empty }
}

const newGroup = (path: string | null): ProjectGroup => {
  const heading = el("h3", { "data-testid": "project-name" })
  const list = el("div", { class: "sessions" })
  const root = el(
    "div",
    { class: "project", "data-testid": "project-group", "data-project": path ?? "" },
    heading,
    list
  )
  return { root, heading, list }
}

/** Opens a session as a live terminal. */
export type OpenTerminal = (session: Session) => void

const newCard = (session: Session, openTerminal: OpenTerminal): SessionCard => {
  const path = `/sessions/${encodeURIComponent(session.sessionId)}`
  const status = el("span", { "data-testid": "session-status" })
  const title = el("span", { class: "session-title", "data-testid": "session-title", title: "open as a terminal" })
  const open = el("button", { type: "button", class: "open", "data-testid": "session-open" }, "Terminal")
  const command = el("span", { "data-testid": "session-command" })
  const activity = el("span", { "data-testid": "session-activity" })
  const output = el("pre", { "data-testid": "session-output" })
  const input = el("input", {
    "data-testid": "session-input",
    placeholder: "type a line, Enter sends it",
    autocomplete: "off"
  })
  const send = el("button", { type: "submit", "data-testid": "session-send" }, "Send")
  const end = el("button", { type: "button", class: "end", "data-testid": "session-end" }, "End")
  const form = el("form", { "data-testid": "session-input-form" }, input, send, end)
  form.addEventListener("submit", (event) => {
    event.preventDefault()
    if (input.value === "") return
    send.disabled = true
    void reportErrors(api("POST", `${path}/input`, { text: input.value }).then(() => {
      input.value = ""
    })).finally(() => {
      send.disabled = false
    })
  })
  // The card's session as it was last rendered: its title may have changed since the card was made.
  let current = session
  title.addEventListener("click", () => openTerminal(current))
  open.addEventListener("click", () => openTerminal(current))
  end.addEventListener("click", () => {
    end.disabled = true
    void reportErrors(api("DELETE", path)).finally(() => {
      end.disabled = false
    })
  })
  const root = el(
    "article",
    { class: "session", "data-testid": "session", "data-session-id": session.sessionId, "data-computer": session.computer },
    el("div", { class: "session-head" }, status, title, open),
    el("div", { class: "meta" }, command, activity),
    output,
    form
  )
  return { root, status, title, command, activity, output, update: (latest) => void (current = latest) }
}

const updateCard = (card: SessionCard, session: Session, now: number) => {
  card.update(session)
  badge(card.status, session.status)
  setText(card.title, session.title === "" ? session.sessionId : session.title)
  setText(card.command, session.command)
  setText(card.activity, `active ${ago(session.lastActivity, now)}`)
  card.activity.title = new Date(session.lastActivity).toLocaleString()
  if (card.output.textContent !== session.lastOutput) {
    card.output.textContent = session.lastOutput
    card.output.scrollTop = card.output.scrollHeight
  }
}

/** Keeps the Sessions view's elements between renders; `render` brings them up to date with the state. */
export const sessionsView = (openTerminal: OpenTerminal) => {
  const sections = new Map<string, ComputerSection>()
  const groups = new Map<string, ProjectGroup>()
  const cards = new Map<string, SessionCard>()
  const container = byTestId("computers")
  const noComputers = byTestId("no-computers")

  const cached = <A>(map: Map<string, A>, key: string, make: () => A): A => {
    const found = map.get(key)
    if (found !== undefined) return found
    const made = make()
    map.set(key, made)
    return made
  }

  const render = (state: FleetState, now: number) => {
    const byComputer = groupByComputer(state.sessions.values())
    const names = [...new Set([...state.computers.keys(), ...byComputer.keys()])].sort()
    const usedGroups = new Set<string>()
    const usedCards = new Set<string>()
    const sectionRoots = names.map((name) => {
      const section = cached(sections, name, () => newSection(name))
      const online = isOnline(state, name, now)
      badge(section.status, online ? "online" : "offline")
      section.root.classList.toggle("is-offline", !online)
      const mine = (byComputer.get(name) ?? []).sort(byCreation)
      const paths = [...new Set(mine.map((s) => s.projectPath))].sort(nullsLast)
      const groupRoots = paths.map((path) => {
        const groupKey = keyOf(name, path)
        const group = cached(groups, groupKey, () => newGroup(path))
        usedGroups.add(groupKey)
        setText(group.heading, projectName(state, name, path))
        syncChildren(
          group.list,
          mine.filter((s) => s.projectPath === path).map((s) => {
            const cardKey = keyOf(s.computer, s.sessionId)
            const card = cached(cards, cardKey, () => newCard(s, openTerminal))
            usedCards.add(cardKey)
            updateCard(card, s, now)
            return card.root
          })
        )
        return group.root
      })
      syncChildren(section.groups, groupRoots.length === 0 ? [section.empty] : groupRoots)
      return section.root
    })
    syncChildren(container, sectionRoots)
    keepOnly(sections, new Set(names))
    keepOnly(groups, usedGroups)
    keepOnly(cards, usedCards)
    noComputers.hidden = names.length > 0
  }
  return { render }
}
