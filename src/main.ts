#!/usr/bin/env node
/** `termfleet <command>`: the daemon, and (later) the client commands talking to it. */
import { HttpServer } from "@effect/platform"
import { NodeRuntime } from "@effect/platform-node"
import { Effect, Either, Layer, Option } from "effect"
import { daemonUsage, parseDaemonArgs } from "./Cli.js"
import { daemonLayer, productionIo } from "./Daemon.js"
import type { DaemonSettings } from "./DaemonConfig.js"

const usage = `usage: termfleet <command>

commands:
  daemon    run the daemon of this computer (see 'termfleet daemon --help')`

const announce = (settings: DaemonSettings) =>
  Effect.gen(function*() {
    const server = yield* HttpServer.HttpServer
    const port = server.address._tag === "TcpAddress" ? server.address.port : settings.port
    yield* Effect.logInfo(
      `termfleet ${settings.version} on ${settings.computer}: http://${settings.host}:${port}/ ` +
        Option.match(settings.redisUrl, { onNone: () => "(local-only)", onSome: () => "(fleet over Redis)" })
    )
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
    onRight: (settings) =>
      Layer.launch(
        Layer.effectDiscard(announce(settings)).pipe(Layer.provideMerge(daemonLayer(settings, productionIo(settings))))
      ).pipe(NodeRuntime.runMain)
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
  default:
    console.error(`termfleet: unknown command '${command}'\n\n${usage}`)
    process.exitCode = 2
}
