/** Recorded agent screens and documented hook payloads (`test/fixtures/`); a screen's first line `# title: ...` is the pane title. */
import { readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import type { PaneView } from "../../src/agent/Screen.js"

export const SCREENS_DIR = fileURLToPath(new URL("../fixtures/screens/", import.meta.url))

export const recordedScreen = (name: string): PaneView => {
  const text = readFileSync(`${SCREENS_DIR}${name}.txt`, "utf8")
  const title = /^# title: (.*)\n/.exec(text)
  return title === null ? { screen: text, title: "" } : { screen: text.slice(title[0].length), title: title[1]! }
}

export const HOOKS_DIR = fileURLToPath(new URL("../fixtures/hooks/", import.meta.url))

/** A documented hook payload, as text. */
export const hookPayload = (name: string): string => readFileSync(`${HOOKS_DIR}${name}.json`, "utf8")
