/** The page's views (Sessions, Preparation, Terminals): one shown at a time, chosen in the header. */
import { byTestId } from "./Dom.js"

export type View = "sessions" | "preparation" | "terminals"

/** `left`: the user picked Sessions or Preparation, leaving any terminal. */
export const views = (left: () => void) => {
  const buttons = [...document.querySelectorAll<HTMLButtonElement>("nav button[data-view]")]
  const sections: ReadonlyArray<readonly [View, HTMLElement]> = [
    ["sessions", byTestId("sessions-view")],
    ["preparation", byTestId("preparation-view")],
    ["terminals", byTestId("terminals-view")]
  ]
  const show = (view: View) => {
    for (const button of buttons) button.setAttribute("aria-pressed", String(button.dataset["view"] === view))
    for (const [name, section] of sections) section.hidden = name !== view
  }
  for (const button of buttons) {
    const view = button.dataset["view"]
    if (view !== "sessions" && view !== "preparation") continue
    button.addEventListener("click", () => {
      left()
      show(view)
    })
  }
  return { show }
}
