/**
 * Small DOM helpers. Everything the page shows is set with `textContent` or
 * attributes, never `innerHTML`: titles, paths and output come from
 * terminals and must never become markup.
 */

/** The element of the page with this `data-testid`; the page's skeleton (index.html) always has it. */
export const byTestId = <E extends HTMLElement = HTMLElement>(id: string): E => {
  const found = document.querySelector<E>(`[data-testid="${id}"]`)
  if (found === null) throw new Error(`index.html has no element with data-testid="${id}"`)
  return found
}

export const el = <K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attributes: Readonly<Record<string, string>> = {},
  ...children: ReadonlyArray<Node | string>
): HTMLElementTagNameMap[K] => {
  const node = document.createElement(tag)
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value)
  node.append(...children)
  return node
}

/** Writes only on change, so an unchanged node is not touched (no layout, no lost selection). */
export const setText = (node: Node, text: string): void => {
  if (node.textContent !== text) node.textContent = text
}

/** Puts nodes in this order under parent, moving only what is out of place (moving blurs inputs). */
export const syncChildren = (parent: Element, nodes: ReadonlyArray<Element>): void => {
  nodes.forEach((node, i) => {
    if (parent.children[i] !== node) parent.insertBefore(node, parent.children[i] ?? null)
  })
  while (parent.children.length > nodes.length) parent.lastElementChild?.remove()
}

/** A status as a coloured badge: its CSS class is the status itself. */
export const badge = (node: HTMLElement, status: string): void => {
  setText(node, status.replace("_", " "))
  node.className = `badge ${status}`
}
