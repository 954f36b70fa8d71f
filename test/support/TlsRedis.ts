/**
 * A `redis-server` speaking TLS only, with a password: a throw-away CA and a
 * server certificate (for `localhost` / 127.0.0.1, or the names a test
 * gives) made with `openssl`, the server on a free port. Everything is removed with the scope.
 */
import { Effect, type Scope } from "effect"
import { execFile, spawn } from "node:child_process"
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { freePort } from "./RedisServer.js"
import { tempDir } from "./TempDir.js"

const openssl = (cwd: string, ...args: ReadonlyArray<string>) =>
  Effect.async<void, Error>((resume) => {
    execFile("openssl", [...args], { cwd, timeout: 15_000 }, (error, _stdout, stderr) =>
      resume(error === null ? Effect.void : Effect.fail(new Error(`openssl ${args[0]}: ${stderr || error.message}`))))
  })

export interface Certificates {
  readonly dir: string
  readonly caCert: string
  readonly serverCert: string
  readonly serverKey: string
}

const ecKey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"] as const

/** A CA and a server certificate it signed, valid for `names` (a subjectAltName: `DNS:localhost,IP:127.0.0.1`). */
export const certificatesFor = (names: string): Effect.Effect<Certificates, Error, Scope.Scope> => Effect.gen(function*() {
  const dir = yield* tempDir("tf-tls")
  yield* openssl(
    dir, "req", "-x509", ...ecKey, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=termfleet test CA",
    "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"
  )
  yield* openssl(dir, "req", ...ecKey, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost")
  writeFileSync(
    join(dir, "server.ext"),
    `subjectAltName=${names}\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n`
  )
  yield* openssl(
    dir, "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
    "-out", "server.crt", "-days", "2", "-extfile", "server.ext"
  )
  return { dir, caCert: join(dir, "ca.crt"), serverCert: join(dir, "server.crt"), serverKey: join(dir, "server.key") }
})

/** A CA and a server certificate it signed, valid for DNS:localhost and IP:127.0.0.1. */
export const makeCertificates = certificatesFor("DNS:localhost,IP:127.0.0.1")

export interface TlsRedis {
  readonly tlsPort: number
}

/** redis-server with TLS only (`--port 0`) and `requirepass`, stopped with the scope. */
export const startTlsRedis = (certs: Certificates, password: string): Effect.Effect<TlsRedis, Error, Scope.Scope> =>
  Effect.gen(function*() {
    const tlsPort = yield* Effect.promise(freePort)
    const child = yield* Effect.acquireRelease(
      Effect.sync(() =>
        spawn("redis-server", [
          "--port", "0",
          "--bind", "127.0.0.1",
          "--tls-port", String(tlsPort),
          "--tls-cert-file", certs.serverCert,
          "--tls-key-file", certs.serverKey,
          "--tls-ca-cert-file", certs.caCert,
          "--tls-auth-clients", "no",
          "--requirepass", password,
          "--save", "",
          "--appendonly", "no"
        ], { stdio: ["ignore", "pipe", "pipe"] })
      ),
      (child) =>
        Effect.promise(() =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve()
            child.once("exit", () => resolve())
            child.kill("SIGKILL")
          })
        )
    )
    yield* Effect.async<void, Error>((resume) => {
      let output = ""
      const timer = setTimeout(() => resume(Effect.fail(new Error(`redis-server not ready within 10 s: ${output.slice(-500)}`))), 10_000)
      child.stdout!.on("data", (chunk: Buffer) => {
        output += chunk.toString()
        if (output.includes("Ready to accept connections")) {
          clearTimeout(timer)
          resume(Effect.void)
        }
      })
      child.stderr!.on("data", (chunk: Buffer) => void (output += chunk.toString()))
      child.once("exit", (code) => {
        clearTimeout(timer)
        resume(Effect.fail(new Error(`redis-server exited (${code}): ${output.slice(-1000)}`)))
      })
    })
    child.removeAllListeners("exit")
    return { tlsPort }
  })
