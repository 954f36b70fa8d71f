/** The form that starts a session on a chosen online computer. */
import { api } from "./Api.js"
import { byTestId, el } from "./Dom.js"
import { reportErrors } from "./ErrorBanner.js"
import { type FleetState, isOnline } from "./State.js"

/** Replaces a list's options only when they changed, so an open list stays open. */
const setOptions = (list: HTMLSelectElement | HTMLDataListElement, values: ReadonlyArray<string>) => {
  const current = [...list.querySelectorAll("option")].map((o) => o.value)
  if (current.length === values.length && current.every((v, i) => v === values[i])) return
  list.replaceChildren(...values.map((value) => el("option", { value }, value)))
}

export const newSessionForm = (rerender: () => void) => {
  const form = byTestId<HTMLFormElement>("new-session-form")
  const select = byTestId<HTMLSelectElement>("new-computer")
  const title = byTestId<HTMLInputElement>("new-title")
  const project = byTestId<HTMLInputElement>("new-project")
  const command = byTestId<HTMLInputElement>("new-command")
  const submit = byTestId<HTMLButtonElement>("new-submit")
  const projectPaths = form.querySelector("datalist")
  if (projectPaths === null) throw new Error("index.html's new-session form has no datalist")

  form.addEventListener("submit", (event) => {
    event.preventDefault()
    const body: Record<string, string> = { computer: select.value }
    for (const [field, input] of [["title", title], ["projectPath", project], ["command", command]] as const) {
      const value = input.value.trim()
      if (value !== "") body[field] = value
    }
    submit.disabled = true
    void reportErrors(api("POST", "/sessions", body).then(() => {
      title.value = ""
      command.value = ""
    })).finally(() => {
      submit.disabled = false
    })
  })
  select.addEventListener("change", rerender)

  const render = (state: FleetState, now: number) => {
    const chosen = select.value === "" ? state.self : select.value
    const online = [...state.computers.keys()].filter((name) => isOnline(state, name, now)).sort()
    setOptions(select, online)
    if (chosen !== undefined && online.includes(chosen)) select.value = chosen
    submit.disabled = online.length === 0
    setOptions(projectPaths, (state.projects.get(select.value) ?? []).map((p) => p.path))
  }
  return { render }
}
