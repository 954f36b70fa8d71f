/**
 * What an agent's hook and the daemon agree on, in plain TypeScript: the
 * hook command (`dist/hook.js`) imports this and nothing of Effect, so it
 * starts in a fraction of the time the whole command line takes.
 */

/** The agents whose hooks termfleet takes: `POST /hooks/<agent>`, `termfleet hook <agent>`. */
export const hookAgents = ["claude", "codex"] as const
export type HookAgentName = typeof hookAgents[number]

/** A hook payload as the hook command sends it, in bytes: a larger one is cut to fit (`HookFit.ts`; listed in `Limits`). */
export const HOOK_PAYLOAD_BYTES = 64 * 1024

/** A hook payload as the hook command reads it, before cutting, in bytes: a larger one is not from an agent (listed in `Limits`). */
export const HOOK_INPUT_BYTES = 64 * 1024 * 1024

/** The variables every new session gets, so a hook run inside it finds its session and this daemon. */
export const SessionEnv = {
  session: "TERMFLEET_SESSION",
  url: "TERMFLEET_URL",
  stateDir: "TERMFLEET_STATE_DIR",
  /** The file holding a credential good for this session's hook calls alone (`HookCredential.ts`). */
  hookTokenFile: "TERMFLEET_HOOK_TOKEN_FILE",
  /** With TLS: the file of the certificate the daemon serves, the one its hooks trust. */
  daemonCert: "TERMFLEET_DAEMON_CERT"
} as const

/** The credential itself, which sessions started by an older termfleet hold instead of `hookTokenFile`. */
export const LEGACY_HOOK_TOKEN = "TERMFLEET_HOOK_TOKEN"
