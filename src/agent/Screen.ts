/**
 * Reading an agent's state off its screen, for agents and versions without
 * hooks: a table of patterns per agent (dialogs, spinners, prompts, the pane
 * title), tried in order against the bottom of the rendered screen (where
 * these programs draw their live part) and the pane title. The first rule
 * that matches wins; nothing matching means the screen says nothing new.
 *
 * Every pattern is tested against recorded screens in
 * `test/fixtures/screens/`.
 */
import type { AgentChoice, AgentName, AgentStateName, WaitReason } from "../domain/Model.js"
import { oneLine } from "./Text.js"

/** What the screen shows: the state, why it waits, a summary and the answers offered. */
export interface ScreenReading {
  readonly state: AgentStateName
  readonly reason: WaitReason | null
  readonly summary: string
  readonly choices: ReadonlyArray<AgentChoice>
}

export interface PaneView {
  /** The rendered screen (its last lines), as text. */
  readonly screen: string
  readonly title: string
}

interface Rule {
  readonly state: AgentStateName
  readonly reason?: WaitReason
  /** Tested against the pane title instead of the screen's lines. */
  readonly inTitle?: boolean
  readonly pattern: RegExp
  /** Only the last `within` lines count (default: the whole bottom). */
  readonly within?: number
  /** The summary, from the bottom lines and the index of the line that matched (or -1 for the title). */
  readonly summary?: (lines: ReadonlyArray<string>, at: number, view: PaneView) => string
  /** How the choices are offered (default: a numbered list). */
  readonly choices?: (lines: ReadonlyArray<string>) => ReadonlyArray<AgentChoice>
}

/** How many lines from the bottom of the screen make its live part. */
const BOTTOM_LINES = 16

/** Box-drawing borders around a line of a dialog. */
const unboxed = (line: string) => line.replace(/^[\s│┃|╭╰╮╯─]*/, "").replace(/[\s│┃|╭╰╮╯─]*$/, "")

/** A numbered option: `❯ 1. Yes`, `│   2. No (esc) │`, `● 1. Yes, allow once`. */
const optionLine = /^[❯›>●○◯▶*\s]*([1-9])\.\s+(.+)$/

/** The last run of consecutive numbered options counting from 1 (wrapped labels and hints may sit between them). */
export const numberedChoices = (lines: ReadonlyArray<string>): ReadonlyArray<AgentChoice> => {
  let last: Array<AgentChoice> = []
  let run: Array<AgentChoice> | null = null
  for (const raw of lines) {
    const match = optionLine.exec(unboxed(raw))
    if (match === null) continue
    const choice = { label: oneLine(match[2]!, 120), keys: match[1]! }
    if (match[1] === "1") {
      run = [choice]
      last = run
    } else if (run !== null && Number(match[1]) === run.length + 1) run.push(choice)
    else run = null
  }
  return last
}

/** aider's `(Y)es/(N)o/(D)on't ask again [Yes]:` offers. */
export const letterChoices = (lines: ReadonlyArray<string>): ReadonlyArray<AgentChoice> => {
  const last = lines.at(-1) ?? ""
  return [...last.matchAll(/\(([A-Z])\)([^/[]*)/g)].map((match) => ({
    label: oneLine(`${match[1]}${match[2]}`, 120),
    keys: match[1]!.toLowerCase()
  }))
}

/** The first lines of the dialog box the line at `at` belongs to: `Bash command: rm -rf build`. */
const dialogHeading = (lines: ReadonlyArray<string>, at: number): string => {
  let top = at
  while (top > 0 && !/^\s*╭/.test(lines[top]!)) top--
  const inside = lines.slice(top, at).map(unboxed).filter((line) => line !== "")
  return oneLine(inside.slice(0, 2).join(": "))
}

const matchedLine = (lines: ReadonlyArray<string>, at: number) => oneLine(unboxed(lines[at] ?? ""))

/** The text of a spinner line, without its glyph and its `(12s · esc to interrupt)`. */
const spinnerText = (lines: ReadonlyArray<string>, at: number) =>
  oneLine(unboxed(lines[at] ?? "").replace(/^[^\p{L}\p{N}]+/u, "").replace(/\s*\(.*$/, ""))

/** The non-empty line just above the first numbered option: the question asked. */
const questionAbove = (lines: ReadonlyArray<string>) => {
  const first = lines.findIndex((line) => /^1\./.test(unboxed(line).replace(/^[❯›>●○◯▶*\s]*/, "")))
  for (let i = first - 1; i >= 0; i--) {
    const text = unboxed(lines[i]!)
    if (text !== "" && !/^[☐☒✔□■]/.test(text)) return oneLine(text)
  }
  return ""
}

/** The line starting `$ ` Codex shows a command on, else the question. */
const codexCommand = (lines: ReadonlyArray<string>, at: number) => {
  const command = lines.find((line) => /^\s*\$ /.test(unboxed(line)))
  return command === undefined ? matchedLine(lines, at) : oneLine(unboxed(command).slice(2))
}

/** The title's words between its glyph and the `(folder)`: `✦  Reading files (app)` is `Reading files`. */
const titleText = (_lines: ReadonlyArray<string>, _at: number, view: PaneView) =>
  oneLine(view.title.replace(/^[^\p{L}\p{N}]+/u, "").replace(/\s*\([^)]*\)\s*$/, ""))

/** Never a prompt line showing numbered options. */
const promptLine = (glyphs: string) => new RegExp(`^[\\s│|]*[${glyphs}](?!\\s*\\d\\.)(\\s|$)`)

export const screenPatterns: Readonly<Record<AgentName, ReadonlyArray<Rule>>> = {
  claude: [
    { state: "waiting", reason: "permission", pattern: /\b(Do you want to|Would you like to) .*\?/, summary: dialogHeading },
    { state: "waiting", reason: "question", pattern: /Enter to select/, summary: questionAbove },
    { state: "working", pattern: /esc to interrupt/i, summary: spinnerText },
    { state: "waiting", reason: "error", pattern: /API Error|⎿\s+Error:/, within: 8, summary: matchedLine },
    { state: "done", pattern: promptLine(">❯"), within: 6 },
    { state: "done", pattern: /\? for shortcuts/, within: 4 }
  ],
  codex: [
    { state: "waiting", reason: "permission", pattern: /\b(Would you like to|Allow) .*\?/, summary: codexCommand },
    { state: "working", pattern: /esc to interrupt/i, summary: spinnerText },
    { state: "waiting", reason: "error", pattern: /^\s*■ /, within: 8, summary: matchedLine },
    { state: "done", pattern: promptLine("›"), within: 6 },
    { state: "done", pattern: /⏎ send|context left/, within: 4 }
  ],
  gemini: [
    { state: "waiting", reason: "permission", pattern: /\b(Allow execution|Apply this change|Do you want to proceed)\b.*\?/, summary: matchedLine },
    { state: "waiting", reason: "permission", inTitle: true, pattern: /Action Required/, summary: titleText },
    { state: "working", pattern: /\(esc to cancel/, summary: spinnerText },
    { state: "working", inTitle: true, pattern: /^[✦⏲]/, summary: titleText },
    { state: "done", inTitle: true, pattern: /Ready/ },
    { state: "done", pattern: /Type your message/, within: 6 }
  ],
  aider: [
    {
      state: "waiting",
      reason: "permission",
      pattern: /\(Y\)es\/\(N\)o.*\[(Yes|No)\]:\s*$/,
      within: 1,
      summary: (lines, at) => {
        const question = matchedLine(lines, at).replace(/\s*\(Y\)es.*$/, "")
        const above = oneLine(lines.slice(0, at).filter((line) => line.trim() !== "").at(-1) ?? "")
        return oneLine(above === "" ? question : `${question} ${above}`)
      },
      choices: letterChoices
    },
    { state: "waiting", reason: "error", pattern: /litellm\.\w*Error|^Error: /, within: 6, summary: matchedLine },
    { state: "done", pattern: /^[\w-]*> ?$/, within: 1 },
    // Anything else at the bottom is aider streaming its answer.
    { state: "working", pattern: /\S/, within: 1 }
  ]
}

/** The live part of a screen: its last lines, without the blank ones below the cursor. */
export const bottomLines = (screen: string): ReadonlyArray<string> => {
  const lines = screen.split("\n")
  let end = lines.length
  while (end > 0 && lines[end - 1]!.trim() === "") end--
  return lines.slice(Math.max(0, end - BOTTOM_LINES), end)
}

/** What the screen of `agent` shows, or `null` when none of its patterns match. */
export const readScreen = (agent: AgentName, view: PaneView): ScreenReading | null => {
  const lines = bottomLines(view.screen)
  for (const rule of screenPatterns[agent]) {
    let at = -1
    if (rule.inTitle === true) {
      if (!rule.pattern.test(view.title)) continue
    } else {
      const from = Math.max(0, lines.length - (rule.within ?? lines.length))
      for (let i = lines.length - 1; i >= from && at < 0; i--) if (rule.pattern.test(lines[i]!)) at = i
      if (at < 0) continue
    }
    const waiting = rule.state === "waiting"
    return {
      state: rule.state,
      reason: waiting ? rule.reason ?? null : null,
      summary: rule.summary?.(lines, at, view) ?? "",
      choices: waiting && rule.reason !== "error" ? (rule.choices ?? numberedChoices)(lines) : []
    }
  }
  return null
}
