/**
 * What a session's hooks present instead of the daemon's token: an HMAC of
 * the session's id under the token, which `HttpGuard` takes for that
 * session's hook calls and nothing else. Derived rather than random, so a
 * session that outlives a run of its daemon still holds one the next run
 * takes (with the same token).
 *
 * A session is given it in a file of the daemon's state folder (0600, in a
 * folder 0700), and only the file's path in its environment: a value given
 * to `tmux new-session` would be on a command line, which every user of the
 * computer can read (`ps`, `/proc/PID/cmdline`).
 */
import { Effect } from "effect"
import { createHmac } from "node:crypto"
import { mkdir, readdir, rename, rm, writeFile } from "node:fs/promises"
import { join, resolve } from "node:path"

export const hookCredential = (token: string, sessionId: string): string =>
  createHmac("sha256", token).update(`termfleet hook ${sessionId}`).digest("base64url")

/** Absolute: a session's program runs in its own folder, not the daemon's. */
const folderOf = (stateDir: string) => resolve(stateDir, "hook-tokens")

/** The file holding session `sessionId`'s credential. */
export const credentialFile = (stateDir: string, sessionId: string) => join(folderOf(stateDir), sessionId)

/** A failure to keep the files leaves the session's hooks refused, not the daemon stopped. */
const attempt = (what: string, run: () => Promise<unknown>): Effect.Effect<void> =>
  Effect.tryPromise({ try: run, catch: (cause) => (cause instanceof Error ? cause.message : String(cause)) }).pipe(
    Effect.catchAll((message) => Effect.logWarning(`${what}: ${message}`)),
    Effect.asVoid
  )

/** Writes session `sessionId`'s credential to its file, whole: a hook reading meanwhile finds the old one or the new one. */
export const writeCredential = (stateDir: string, token: string, sessionId: string) =>
  attempt(`the hook credential of session ${sessionId} could not be written; its hooks will be refused`, async () => {
    const file = credentialFile(stateDir, sessionId)
    await mkdir(folderOf(stateDir), { recursive: true, mode: 0o700 })
    await writeFile(`${file}.new`, hookCredential(token, sessionId), { mode: 0o600 })
    await rename(`${file}.new`, file)
  })

export const removeCredential = (stateDir: string, sessionId: string) =>
  attempt(`the hook credential of session ${sessionId} could not be removed`, () => rm(credentialFile(stateDir, sessionId), { force: true }))

/** Removes every file but those of `sessionIds`: sessions that ended while no daemon ran leave theirs behind. */
export const keepCredentials = (stateDir: string, sessionIds: ReadonlySet<string>) =>
  attempt("stale hook credentials could not be removed", async () => {
    const names = await readdir(folderOf(stateDir)).catch((error: NodeJS.ErrnoException) => {
      if (error.code === "ENOENT") return []
      throw error
    })
    await Promise.all(names.filter((name) => !sessionIds.has(name)).map((name) => rm(join(folderOf(stateDir), name), { force: true })))
  })
