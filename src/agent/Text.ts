/** Turning what agents print and send into the one-line summaries sessions carry. */

import { Limits } from "../domain/Limits.js"

const controls = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g

/** One line: controls and runs of blanks become one space, cut to `max` characters. */
export const oneLine = (text: string, max: number = Limits.summaryChars): string => {
  const line = text.replace(controls, " ").replace(/\s+/g, " ").trim()
  const chars = [...line]
  return chars.length <= max ? line : `${chars.slice(0, max - 1).join("")}…`
}

/** The last line with something on it. */
export const lastLineOf = (text: string): string =>
  text.split("\n").map((line) => line.trim()).filter((line) => line !== "").at(-1) ?? ""

/** The first line with something on it. */
export const firstLineOf = (text: string): string =>
  text.split("\n").map((line) => line.trim()).find((line) => line !== "") ?? ""

/** What a tool call is about, the way the permission dialogs show it: `Bash: rm -rf build`. */
export const describeTool = (tool: string, input: Readonly<Record<string, unknown>>): string => {
  const detail = ["command", "file_path", "notebook_path", "url", "query", "pattern", "description", "prompt", "path"]
    .map((key) => input[key])
    .find((value): value is string => typeof value === "string" && value.trim() !== "")
  return oneLine(detail === undefined ? tool : `${tool}: ${firstLineOf(detail)}`)
}
