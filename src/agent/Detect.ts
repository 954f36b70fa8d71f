/**
 * Which agent a session runs, from the command it was started with and the
 * process in the foreground of its pane (tmux's `pane_current_command`).
 * The process wins: a shell session in which someone typed `claude` runs
 * Claude Code now. Agents started through `node` or `python` show as such,
 * so the command line is looked at too.
 */
import type { AgentName } from "../domain/Model.js"

/** Program names and package names of each agent. */
const known: ReadonlyMap<string, AgentName> = new Map([
  ["claude", "claude"],
  ["claude-code", "claude"],
  ["@anthropic-ai/claude-code", "claude"],
  ["codex", "codex"],
  ["@openai/codex", "codex"],
  ["gemini", "gemini"],
  ["@google/gemini-cli", "gemini"],
  ["aider", "aider"],
  ["aider-chat", "aider"]
])

/** Words that run the next word: `npx claude`, `env FOO=1 codex`, `python -m aider`. */
const launchers = new Set(["env", "exec", "nohup", "time", "command", "npx", "bunx", "pnpx", "uvx", "dlx", "run", "-m", "-y", "--yes"])
const runners = new Set(["pnpm", "yarn", "npm", "bun", "pipx", "uv", "python", "python3", "node"])

const programOf = (word: string): AgentName | undefined => {
  // `@openai/codex@latest` and `/usr/local/bin/claude` name the same program.
  const bare = word.replace(/(.)@[^/@]*$/, "$1")
  return known.get(bare) ?? known.get(bare.slice(bare.lastIndexOf("/") + 1))
}

export const agentOfProcess = (processName: string): AgentName | null => programOf(processName.trim()) ?? null

/** The agent the first program of any simple command of `command` is, if one is. */
export const agentOfCommand = (command: string): AgentName | null => {
  for (const simple of command.split(/&&|\|\||[;&|\n(){}]/)) {
    const words = simple.trim().split(/\s+/).map((word) => word.replace(/^['"]|['"]$/g, "")).filter(Boolean)
    for (const word of words) {
      if (/^[A-Za-z_][A-Za-z0-9_]*=/.test(word) || launchers.has(word) || runners.has(word)) continue
      const agent = programOf(word)
      if (agent !== undefined) return agent
      break
    }
  }
  return null
}

/** The process first, then the command. */
export const detectAgent = (command: string, processName: string): AgentName | null =>
  agentOfProcess(processName) ?? agentOfCommand(command)
