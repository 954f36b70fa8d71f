/**
 * `node dist/hook.js claude|codex [JSON]`: the hook command alone, what
 * `termfleet hooks install` has the agents run (`termfleet hook` runs the
 * same code from the whole command line, which takes longer to load).
 */
import { processOutput, readStdin, runHook } from "./agent/HookCommand.js"

process.exitCode = await runHook(process.argv.slice(2), process.env, readStdin, processOutput)
