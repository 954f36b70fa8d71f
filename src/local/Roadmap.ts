/**
 * Reads a project's `todos/roadmap.md` into todos. Only checklist lines count
 * (`- [ ] title`, `* [x] title`, indented or not); everything else in the file
 * is free prose for the person who writes it.
 */
import type { Todo, TodoStatus } from "../domain/Model.js"

/** A roadmap is written by hand; more than this is not a roadmap, and would flood every client. */
export const maxTodos = 1000

export const maxSlugLength = 60

const checklistLine = /^\s*[-*]\s+\[([ .>xX])\](?:\s+(.*))?$/

const statusOfMark: Record<string, TodoStatus> = {
  " ": "pending",
  ".": "ready",
  ">": "in_progress",
  x: "done",
  X: "done"
}

const trimDashes = (text: string) => text.replace(/^-+|-+$/g, "")

/**
 * A URL-safe name for a title: lowercase ASCII letters, digits and single
 * dashes. Accents are dropped rather than turned into dashes ("café" → "cafe");
 * a title with nothing left becomes "todo".
 */
export const slugify = (title: string): string => {
  const ascii = title.normalize("NFKD").replace(/[\u0300-\u036f]/g, "").toLowerCase()
  const slug = trimDashes(trimDashes(ascii.replace(/[^a-z0-9]+/g, "-")).slice(0, maxSlugLength))
  return slug.length > 0 ? slug : "todo"
}

/** `base`, or `base-2`, `base-3`… (still within the length limit), whichever `taken` lacks; records it. */
const claim = (base: string, taken: Set<string>): string => {
  let slug = base
  for (let n = 2; taken.has(slug); n++) {
    const suffix = `-${n}`
    slug = trimDashes(base.slice(0, maxSlugLength - suffix.length)) + suffix
  }
  taken.add(slug)
  return slug
}

export const parseRoadmap = (computer: string, projectPath: string, text: string): ReadonlyArray<Todo> => {
  const todos: Array<Todo> = []
  const taken = new Set<string>()
  for (const line of text.split(/\r?\n/)) {
    if (todos.length >= maxTodos) break
    const match = checklistLine.exec(line)
    if (match === null) continue
    const status = statusOfMark[match[1] ?? ""]
    const title = (match[2] ?? "").trim()
    if (status === undefined || title.length === 0) continue
    todos.push({ computer, projectPath, slug: claim(slugify(title), taken), title, status })
  }
  return todos
}
