/** The header's buttons that switch between the Sessions and Preparation views. */
import { byTestId } from "./Dom.js"

export const wireTabs = (): void => {
  const tabs = [...document.querySelectorAll<HTMLButtonElement>("nav button[data-view]")]
  for (const tab of tabs) {
    tab.addEventListener("click", () => {
      for (const other of tabs) {
        const selected = other === tab
        other.setAttribute("aria-pressed", String(selected))
        byTestId(`${other.dataset["view"] ?? ""}-view`).hidden = !selected
      }
    })
  }
}
