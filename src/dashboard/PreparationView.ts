/** The Preparation view: each computer's projects and the status of each todo of their roadmaps. */
import { badge, byTestId, el } from "./Dom.js"
import { type FleetState, projectName } from "./State.js"

export const preparationView = () => {
  const container = byTestId("preparation")
  const noProjects = byTestId("no-projects")

  const render = (state: FleetState) => {
    const computers = [...new Set([...state.projects.keys(), ...state.todos.keys()])].sort()
    const sections = computers.map((computer) => {
      const projects = state.projects.get(computer) ?? []
      const todos = state.todos.get(computer) ?? []
      const paths = [...new Set([...projects.map((p) => p.path), ...todos.map((t) => t.projectPath)])].sort()
      return el(
        "section",
        { class: "computer", "data-testid": "prep-computer", "data-computer": computer },
        el("h2", {}, computer),
        ...paths.map((path) => {
          const mine = todos.filter((t) => t.projectPath === path)
          return el(
            "div",
            { class: "project", "data-testid": "prep-project", "data-project": path },
            el("h3", {}, projectName(state, computer, path)),
            mine.length === 0
              ? el("p", { class: "empty" }, "no todos")
              : el("ul", { class: "todos" }, ...mine.map((todo) => {
                const status = el("span")
                badge(status, todo.status)
                return el(
                  "li",
                  { "data-testid": "todo", "data-slug": todo.slug, "data-status": todo.status },
                  status,
                  el("span", { "data-testid": "todo-title" }, todo.title)
                )
              }))
          )
        })
      )
    })
    container.replaceChildren(...sections)
    noProjects.hidden = sections.length > 0
  }
  return { render }
}
