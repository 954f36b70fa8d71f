/**
 * Projects against real folders in a temporary directory (real FileSystem),
 * with the cache on the TestClock: what is on disk is served once the layer
 * is up, refreshes follow edits, problems are skipped with one warning, and
 * the periodic re-read keeps everything served past the 5-minute TTL.
 */
import { NodeContext } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Context, Effect, Layer, Logger, LogLevel, Queue, TestClock } from "effect"
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { DaemonConfig, defaultSettings } from "../../src/config/DaemonConfig.js"
import { Projects } from "../../src/local/Projects.js"
import { type CacheChange, SessionCache } from "../../src/cache/SessionCache.js"

const tempDir = Effect.acquireRelease(
  Effect.promise(() => mkdtemp(join(tmpdir(), "termfleet-projects-"))),
  (dir) => Effect.promise(() => rm(dir, { recursive: true, force: true }))
)

const writeText = (path: string, text: string) =>
  Effect.promise(async () => {
    await mkdir(dirname(path), { recursive: true })
    await writeFile(path, text)
  })

const makeFolder = (path: string) => Effect.promise(() => mkdir(path, { recursive: true }))

const roadmap = (project: string) => join(project, "todos", "roadmap.md")

const settings = (folders: ReadonlyArray<string>) => defaultSettings({ computer: "test", projects: folders })

/** Builds Projects as the daemon does, in the test's scope, and hands back it and the cache it fills. */
const start = (folders: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const context = yield* Layer.build(
      Projects.layer.pipe(
        Layer.provideMerge(SessionCache.layer),
        Layer.provideMerge(DaemonConfig.layer(settings(folders))),
        Layer.provide(NodeContext.layer)
      )
    )
    return { projects: Context.get(context, Projects), cache: Context.get(context, SessionCache) }
  })

const project = (folder: string, name: string) => ({ computer: "test", path: join(folder, name), name })

/** The next change that is a `TodosUpdated`, skipping others. */
const nextTodosUpdate = (changes: Queue.Dequeue<CacheChange>) =>
  Effect.repeat(Queue.take(changes), { until: (change) => change._tag === "TodosUpdated" })

/** Collects warnings, since the test runtime logs nothing. */
const captureWarnings = Effect.sync(() => {
  const warnings: Array<string> = []
  const logger = Logger.make(({ logLevel, message }) => {
    if (LogLevel.greaterThanEqual(logLevel, LogLevel.Warning)) warnings.push([message].flat().join(" "))
  })
  return { warnings, layer: Logger.add(logger) }
})

describe("Projects", () => {
  it.scoped("serves every project folder and its todos as soon as the layer is up", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      yield* writeText(roadmap(join(dir, "alpha")), "# Alpha\n- [x] Set up\n- [>] Build it\nprose\n")
      yield* makeFolder(join(dir, "beta"))
      yield* makeFolder(join(dir, ".hidden"))
      yield* writeText(join(dir, "notes.txt"), "not a project")

      const { cache } = yield* start([dir])

      expect(yield* cache.projects).toEqual([project(dir, "alpha"), project(dir, "beta")])
      expect(yield* cache.todos).toEqual([
        { computer: "test", projectPath: join(dir, "alpha"), slug: "set-up", title: "Set up", status: "done" },
        { computer: "test", projectPath: join(dir, "alpha"), slug: "build-it", title: "Build it", status: "in_progress" }
      ])
    }))

  it.scoped("refresh reads an edited roadmap and publishes only what changed", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const alpha = join(dir, "alpha")
      yield* writeText(roadmap(alpha), "- [ ] Write tests\n")
      const { cache, projects } = yield* start([dir])
      const changes = yield* cache.subscribe

      // Nothing changed on disk: nothing to publish.
      yield* projects.refresh
      yield* writeText(roadmap(alpha), "- [x] Write tests\r\n- [.] Ship\r\n")
      yield* projects.refresh

      const todos = [
        { computer: "test", projectPath: alpha, slug: "write-tests", title: "Write tests", status: "done" },
        { computer: "test", projectPath: alpha, slug: "ship", title: "Ship", status: "ready" }
      ]
      expect(Chunk.toReadonlyArray(yield* Queue.takeAll(changes))).toEqual([
        expect.objectContaining({ _tag: "TodosUpdated", computer: "test", todos })
      ])
      expect(yield* cache.todos).toEqual(todos)
    }))

  it.scoped("refresh finds a project folder added since the last read", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      yield* makeFolder(join(dir, "alpha"))
      const { cache, projects } = yield* start([dir])

      yield* writeText(roadmap(join(dir, "gamma")), "- [ ] Start gamma\n")
      yield* projects.refresh

      expect(yield* cache.projects).toEqual([project(dir, "alpha"), project(dir, "gamma")])
      expect((yield* cache.todos).map((t) => t.title)).toEqual(["Start gamma"])
    }))

  it.scoped("a configured folder that does not exist is skipped with one warning", () =>
    Effect.gen(function*() {
      const capture = yield* captureWarnings
      yield* Effect.gen(function*() {
        const dir = yield* tempDir
        const missing = join(dir, "missing")
        const folders = join(dir, "folders")
        yield* makeFolder(join(folders, "alpha"))
        const { cache, projects } = yield* start([missing, folders])

        yield* projects.refresh

        expect(yield* cache.projects).toEqual([project(folders, "alpha")])
        expect(capture.warnings).toHaveLength(1)
        expect(capture.warnings[0]).toContain(missing)
      }).pipe(Effect.provide(capture.layer))
    }))

  it.scoped("a roadmap larger than 1 MiB is ignored with one warning", () =>
    Effect.gen(function*() {
      const capture = yield* captureWarnings
      yield* Effect.gen(function*() {
        const dir = yield* tempDir
        yield* writeText(roadmap(join(dir, "huge")), "- [ ] too much\n".repeat(100_000))
        yield* writeText(roadmap(join(dir, "small")), "- [ ] fine\n")
        const { cache, projects } = yield* start([dir])

        yield* projects.refresh

        expect((yield* cache.todos).map((t) => t.title)).toEqual(["fine"])
        expect(capture.warnings).toHaveLength(1)
        expect(capture.warnings[0]).toContain(roadmap(join(dir, "huge")))
      }).pipe(Effect.provide(capture.layer))
    }))

  it.scoped("with no folders configured, empty lists are set once", () =>
    Effect.gen(function*() {
      const base = yield* Layer.build(
        SessionCache.layer.pipe(
          Layer.provideMerge(DaemonConfig.layer(settings([]))),
          Layer.provideMerge(NodeContext.layer)
        )
      )
      const cache = Context.get(base, SessionCache)
      const changes = yield* cache.subscribe
      yield* Layer.build(Projects.layer).pipe(Effect.provide(base))

      yield* TestClock.adjust("6 minutes")

      expect(Chunk.toReadonlyArray(yield* Queue.takeAll(changes))).toEqual([
        expect.objectContaining({ _tag: "ProjectsUpdated", projects: [] }),
        expect.objectContaining({ _tag: "TodosUpdated", todos: [] })
      ])
    }))

  it.scoped("the periodic re-read keeps projects served past their 5-minute TTL", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const alpha = join(dir, "alpha")
      yield* writeText(roadmap(alpha), "- [ ] step 0\n")
      const { cache } = yield* start([dir])
      const changes = yield* cache.subscribe

      for (let minute = 1; minute <= 6; minute++) {
        // Each minute's re-read sees a new roadmap and publishes it: that is how the test knows it ran.
        yield* writeText(roadmap(alpha), `- [ ] step ${minute}\n`)
        yield* TestClock.adjust("60 seconds")
        const update = yield* nextTodosUpdate(changes)
        expect(update).toMatchObject({ todos: [{ title: `step ${minute}` }] })
      }

      // The project never changed, yet it is still served 6 minutes after the first read.
      expect(yield* cache.projects).toEqual([project(dir, "alpha")])
    }))
})
