/**
 * `termfleet <command>` (loaded by `main.ts`): the daemon, and the client
 * commands talking to it (`src/cli/Commands.ts`). The daemon's code is loaded for `daemon` only, so
 * a client command starts quickly.
 */
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeTerminal from "@effect/platform-node/NodeTerminal"
import { Effect, Layer } from "effect"
import { dirname, join, resolve } from "node:path"
import { runCli, type RunDaemon } from "./cli/Commands.js"
import { ClientOutput } from "./cli/Output.js"

const runDaemon: RunDaemon = (settings) =>
  Effect.flatMap(Effect.promise(() => import("./Daemon.js")), (daemon) => daemon.runDaemon(settings))

const platform = Layer.mergeAll(ClientOutput.live, NodeFileSystem.layer, NodePath.layer, NodeTerminal.layer)

const [command, ...rest] = process.argv.slice(2)
// `hooks` and `hook` parse their own arguments (src/agent), and their code loads for them alone; every other command is in src/cli/Commands.ts.
const run: Effect.Effect<number, never, Layer.Layer.Success<typeof platform>> = command === "hooks"
  ? Effect.flatMap(Effect.promise(() => import("./agent/HooksInstall.js")), ({ runHooksInstall }) =>
    Effect.map(runHooksInstall(rest, process.env, [process.execPath, join(dirname(resolve(process.argv[1]!)), "hook.js")]), ({ code, err, out }) => {
      for (const line of out) console.log(line)
      for (const line of err) console.error(line)
      return code
    }))
  : command === "hook"
  ? Effect.promise(() => import("./agent/HookCommand.js").then((hook) => hook.runHook(rest, process.env, hook.readStdin, hook.processOutput)))
  : runCli(process.argv.slice(2), runDaemon)

run.pipe(
  Effect.map((code) => {
    process.exitCode = code
  }),
  Effect.provide(platform),
  NodeRuntime.runMain
)
