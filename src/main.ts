#!/usr/bin/env node
/** `termfleet <command>`: the daemon, and the client commands talking to it. */
import { HttpServer } from "@effect/platform"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Effect, Either, Layer, Option } from "effect"
import { daemonUsage, parseDaemonArgs } from "./config/DaemonArgs.js"
import { isClientCommand } from "./cli/Args.js"
import { clientUsage, runClientMain } from "./cli/Client.js"
import { ClientOutput } from "./cli/Output.js"
import { readStdin, runHook } from "./agent/HookCommand.js"
import { runHooksInstall } from "./agent/HooksInstall.js"
import { resolve } from "node:path"
import { daemonLayer, launchDaemon, productionIo } from "./Daemon.js"
import type { DaemonSettings } from "./config/DaemonConfig.js"
import { resolveSecrets } from "./config/StateDir.js"

const usage = `usage: termfleet <command>

commands:
  daemon    run the daemon of this computer (see 'termfleet daemon --help')
  hooks     connect Claude Code and Codex to termfleet ('termfleet hooks install')
  hook      what those hooks run
${clientUsage}

'termfleet <command> --help' tells more about each.`

const announce = (settings: DaemonSettings) =>
  Effect.gen(function*() {
    const server = yield* HttpServer.HttpServer
    const port = server.address._tag === "TcpAddress" ? server.address.port : settings.port
    yield* Effect.logInfo(
      `termfleet ${settings.version} on ${settings.computer} ` +
        Option.match(settings.redisUrl, { onNone: () => "(local-only)", onSome: () => "(fleet over Redis)" })
    )
    // Like notebook servers: the URL carries the token once; the page keeps it in a same-site cookie.
    console.log(`dashboard: http://${settings.host}:${port}/?token=${encodeURIComponent(settings.token)}`)
  })

const refuse = (error: { readonly message: string }) =>
  Effect.sync(() => {
    console.error(`termfleet daemon: ${error.message}`)
    process.exitCode = 2
  })

const runDaemon = (argv: ReadonlyArray<string>) => {
  if (argv.includes("--help") || argv.includes("-h")) {
    console.log(daemonUsage)
    return
  }
  Either.match(parseDaemonArgs(argv, process.env), {
    onLeft: (message) => {
      console.error(`termfleet daemon: ${message}\n\n${daemonUsage}`)
      process.exitCode = 2
    },
    onRight: ({ settings: given, token }) =>
      resolveSecrets(given, { token }).pipe(
        Effect.provide(NodeFileSystem.layer),
        Effect.flatMap((settings) =>
          launchDaemon(
            Layer.effectDiscard(announce(settings)).pipe(
              Layer.provideMerge(daemonLayer(settings, productionIo(settings)))
            )
          )
        ),
        // A bad state folder, or the computer's name taken by another daemon: exit 2 with the reason.
        Effect.catchTags({ StateError: refuse, ComputerTaken: refuse }),
        NodeRuntime.runMain
      )
  })
}

const [command, ...rest] = process.argv.slice(2)
switch (command) {
  case "daemon":
    runDaemon(rest)
    break
  case undefined:
  case "help":
  case "--help":
  case "-h":
    console.log(usage)
    break
  case "hooks":
    runHooksInstall(rest, process.env, [process.execPath, resolve(process.argv[1]!)]).pipe(
      Effect.map(({ code, err, out }) => {
        for (const line of out) console.log(line)
        for (const line of err) console.error(line)
        process.exitCode = code
      }),
      Effect.provide(NodeFileSystem.layer),
      NodeRuntime.runMain
    )
    break
  case "hook":
    runHook(rest, process.env, readStdin).pipe(
      Effect.map((code) => void (process.exitCode = code)),
      Effect.provide(ClientOutput.live),
      NodeRuntime.runMain
    )
    break
  default:
    if (isClientCommand(command)) {
      runClientMain(command, rest)
      break
    }
    console.error(`termfleet: unknown command '${command}'\n\n${usage}`)
    process.exitCode = 2
}
