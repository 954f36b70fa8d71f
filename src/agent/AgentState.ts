/**
 * Which agent each session of this computer runs and what it is doing. It
 * remembers, per session, what the hooks, the screen and the process last
 * said (`Machine.ts`), and gives every session this computer publishes its
 * agent's status: `LocalSessions` passes each session it lists through
 * `observe`, and a hook call publishes the new state at once.
 *
 * The status rides the session, so it reaches every daemon and client with
 * the session's own events; only the owner computes it.
 */
import { HttpServer } from "@effect/platform"
import { Clock, Context, Effect, Layer, Option, Redacted } from "effect"
import { baseUrl, isEveryInterface } from "../config/Address.js"
import { DaemonConfig } from "../config/DaemonConfig.js"
import { DEFAULT_URL } from "../config/Locations.js"
import { SessionCache } from "../cache/SessionCache.js"
import type { AgentName, Session } from "../domain/Model.js"
import { detectAgent } from "./Detect.js"
import { credentialFile, keepCredentials, removeCredential, writeCredential } from "./HookCredential.js"
import { SessionEnv } from "./HookWire.js"
import type { HookEvent } from "./HookPayload.js"
import { type AgentMemory, applyHook, applyProcess, applyScreen, newMemory, statusOf } from "./Machine.js"
import { readScreen } from "./Screen.js"

/** What tmux tells of a session's pane besides its screen. */
export interface PaneFacts {
  /** The program in the foreground (tmux's `pane_current_command`). */
  readonly process: string
  readonly title: string
  readonly dead: boolean
}

export interface AgentStateService {
  /**
   * The session with its agent's status, or without one when it runs none.
   * Run it, and publish what it answers, inside `exclusive`, so a hook
   * taken meanwhile is not undone by an older status.
   */
  readonly observe: (session: Session, pane: PaneFacts) => Effect.Effect<Session>
  /** Runs `effect` while no hook is being applied. */
  readonly exclusive: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  /** Applies one hook call to a session of this computer and publishes its new state; `None`: no such session. */
  readonly hook: (sessionId: string, event: HookEvent) => Effect.Effect<Option.Option<Session>>
  /**
   * Gives a session its hook credential, in the file `sessionEnv` names:
   * before its program starts, and again when a daemon (with its token,
   * which may be another) first finds it.
   */
  readonly admit: (sessionId: string) => Effect.Effect<void>
  /** The session is gone: its memory and its hook credential go too. */
  readonly forget: (sessionId: string) => Effect.Effect<void>
  /** Only these sessions exist: the credentials of any others (ended while no daemon ran) go. */
  readonly forgetAllBut: (sessionIds: ReadonlySet<string>) => Effect.Effect<void>
  /** Environment variables of a new session (`SessionEnv`): no secret, as they are passed on tmux's command line. */
  readonly sessionEnv: (sessionId: string) => ReadonlyArray<readonly [string, string]>
}

interface Entry {
  readonly memory: AgentMemory
  /** Detected from the process or the command at least once (not only named by a hook). */
  readonly detected: boolean
  /** The screen and title last read, so an unchanged screen is not read again. */
  readonly screen: string
  readonly title: string
}

/** The URL this daemon is reached at from this computer (`https:` when it serves TLS). */
export const localUrl = (address: HttpServer.Address, tls: boolean): string => {
  if (address._tag !== "TcpAddress") return DEFAULT_URL
  const host = isEveryInterface(address.hostname) ? "127.0.0.1" : address.hostname
  return baseUrl({ tls, host, port: address.port })
}

export const makeAgentState = (url: string) =>
  Effect.gen(function*() {
    const config = yield* DaemonConfig
    const cache = yield* SessionCache
    const lock = yield* Effect.makeSemaphore(1)
    const entries = new Map<string, Entry>()

    const withStatus = (session: Session, memory: AgentMemory, now: number): [Session, AgentMemory] => {
      const agent = statusOf(memory, now)
      return [{ ...session, agent }, { ...memory, status: agent }]
    }

    const withoutAgent = (session: Session): Session => {
      if (session.agent === undefined) return session
      const { agent: _, ...rest } = session
      return rest
    }

    const observe = (session: Session, pane: PaneFacts) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        const found = detectAgent(session.command, pane.process)
        let entry = entries.get(session.sessionId)
        if (found !== null && (entry === undefined || entry.memory.name !== found)) {
          entry = { memory: newMemory(found), detected: true, screen: "", title: "" }
        }
        if (entry === undefined) return withoutAgent(session)
        let memory = entry.memory
        if (session.lastOutput !== entry.screen || pane.title !== entry.title) {
          memory = applyScreen(memory, readScreen(memory.name, { screen: session.lastOutput, title: pane.title }), now)
        }
        // Back at the shell after having run: the agent exited.
        memory = applyProcess(memory, !pane.dead && !(entry.detected && found === null))
        const [published, remembered] = withStatus(session, memory, now)
        entries.set(session.sessionId, {
          memory: remembered,
          detected: entry.detected || found !== null,
          screen: session.lastOutput,
          title: pane.title
        })
        return published
      })

    const hook = (sessionId: string, event: HookEvent) =>
      lock.withPermits(1)(Effect.gen(function*() {
        const session = yield* cache.session({ sessionId, computer: config.computer })
        if (Option.isNone(session)) return Option.none<Session>()
        const now = yield* Clock.currentTimeMillis
        const name: AgentName = event.agent
        const entry = entries.get(sessionId)
        const memory = entry !== undefined && entry.memory.name === name ? entry.memory : newMemory(name)
        const [published, remembered] = withStatus(session.value, applyHook(memory, event, now), now)
        entries.set(sessionId, {
          memory: remembered,
          detected: entry?.detected ?? false,
          screen: entry?.screen ?? "",
          title: entry?.title ?? ""
        })
        yield* cache.upsertSession(published)
        return Option.some(published)
      }))

    return {
      observe,
      exclusive: (effect) => lock.withPermits(1)(effect),
      hook,
      admit: (sessionId) => writeCredential(config.stateDir, Redacted.value(config.token), sessionId),
      forget: (sessionId) =>
        Effect.zipRight(Effect.sync(() => void entries.delete(sessionId)), removeCredential(config.stateDir, sessionId)),
      forgetAllBut: (sessionIds) => keepCredentials(config.stateDir, sessionIds),
      sessionEnv: (sessionId) => [
        [SessionEnv.session, sessionId],
        [SessionEnv.url, url],
        [SessionEnv.stateDir, config.stateDir],
        [SessionEnv.hookTokenFile, credentialFile(config.stateDir, sessionId)],
        ...Option.toArray(Option.map(config.tls, (tls) => [SessionEnv.daemonCert, tls.certFile] as const))
      ]
    } satisfies AgentStateService
  })

export class AgentState extends Context.Tag("termfleet/AgentState")<AgentState, AgentStateService>() {
  /** Hooks reach this daemon at the address its server listens on. */
  static readonly layer: Layer.Layer<AgentState, never, DaemonConfig | SessionCache | HttpServer.HttpServer> = Layer.effect(
    AgentState,
    Effect.flatMap(
      Effect.all([HttpServer.HttpServer, DaemonConfig]),
      ([server, config]) => makeAgentState(localUrl(server.address, Option.isSome(config.tls)))
    )
  )

  /** For a daemon without a server (tests of tmux alone): hooks are told `url`. */
  static readonly layerAt = (url: string): Layer.Layer<AgentState, never, DaemonConfig | SessionCache> =>
    Layer.effect(AgentState, makeAgentState(url))
}
