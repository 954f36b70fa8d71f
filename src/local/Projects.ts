/**
 * Project folders and their todos. Every direct sub-folder of a configured
 * folder is a project; its `todos/roadmap.md` holds its todos. They are read
 * at start and every minute into the cache, which serves them for 5 minutes
 * after they were last set.
 */
import { FileSystem } from "@effect/platform"
import type { PlatformError } from "@effect/platform/Error"
import { Clock, Context, Effect, type Equivalence, Layer, Option, Schedule, Schema } from "effect"
import { join, resolve } from "node:path"
import { DaemonConfig } from "../config/DaemonConfig.js"
import { Project, Todo } from "../domain/Model.js"
import { parseRoadmap } from "./Roadmap.js"
import { SessionCache } from "../cache/SessionCache.js"

export interface ProjectsService {
  /** Re-reads every project folder and roadmap now, and puts the result in the cache. */
  readonly refresh: Effect.Effect<void>
}

/** A roadmap is read every minute: anything bigger is not a hand-written roadmap and is ignored. */
const maxRoadmapBytes = FileSystem.MiB(1)

/**
 * Unchanged values are set again once they are this old, so the cache's
 * 5-minute TTL never lapses: with a re-read every minute, the re-set lands
 * within 3 minutes of the last set, leaving room for a late re-read.
 */
const resetAfterMillis = 2 * 60_000

interface LastSet<A> {
  readonly values: ReadonlyArray<A>
  readonly at: number
}

/**
 * Every set is pushed to every interested client, so a set is worth it only
 * for a change, or to renew unchanged values before their TTL lapses. An
 * empty list needs no renewal: once it lapses the cache serves the same nothing.
 */
const shouldSet = <A>(
  same: Equivalence.Equivalence<ReadonlyArray<A>>,
  last: Option.Option<LastSet<A>>,
  values: ReadonlyArray<A>,
  now: number
): boolean =>
  Option.match(last, {
    onNone: () => true,
    onSome: (last) => !same(last.values, values) || (values.length > 0 && now - last.at >= resetAfterMillis)
  })

/** Puts values into the cache through `set` when `shouldSet` says so, remembering what it set. */
const makeSetter = <A>(
  same: Equivalence.Equivalence<ReadonlyArray<A>>,
  set: (values: ReadonlyArray<A>) => Effect.Effect<void>
) => {
  let last = Option.none<LastSet<A>>()
  return (values: ReadonlyArray<A>, now: number): Effect.Effect<void> =>
    shouldSet(same, last, values, now)
      ? Effect.zipRight(set(values), Effect.sync(() => { last = Option.some({ values, at: now }) }))
      : Effect.void
}

const isNotFound = (error: PlatformError) => error._tag === "SystemError" && error.reason === "NotFound"

const makeProjects = Effect.gen(function*() {
  const config = yield* DaemonConfig
  const cache = yield* SessionCache
  const fs = yield* FileSystem.FileSystem
  const computer = config.computer
  const folders = [...new Set(config.projects.map((folder) => resolve(folder)))]

  /** Everything on disk now, and what had to be skipped (as warnings to log). */
  const read = Effect.gen(function*() {
    const problems = new Set<string>()
    const skip = <A>(problem: string): Effect.Effect<ReadonlyArray<A>> =>
      Effect.sync(() => {
        problems.add(problem)
        return []
      })

    const projectsIn = (folder: string) =>
      fs.readDirectory(folder).pipe(
        Effect.flatMap((names) =>
          Effect.forEach(
            names.filter((name) => !name.startsWith(".")).sort(),
            (name) => {
              const path = join(folder, name)
              return fs.stat(path).pipe(
                Effect.map((info): ReadonlyArray<Project> => info.type === "Directory" ? [{ computer, path, name }] : []),
                // Gone since it was listed, or a link to nothing: not a project folder either way.
                Effect.orElseSucceed(() => [])
              )
            },
            { concurrency: 16 }
          )
        ),
        Effect.map((found) => found.flat()),
        Effect.catchAll((error) => skip<Project>(`projects folder ${folder} skipped: ${error.message}`))
      )

    const todosOf = (project: Project) => {
      const file = join(project.path, "todos", "roadmap.md")
      return fs.stat(file).pipe(
        Effect.flatMap((info) =>
          info.size > maxRoadmapBytes
            ? skip<Todo>(`${file} ignored: it is larger than 1 MiB`)
            : Effect.map(fs.readFileString(file, "utf-8"), (text) => parseRoadmap(computer, project.path, text))
        ),
        // Most projects have no roadmap: that is not a problem.
        Effect.catchIf(isNotFound, () => Effect.succeed([])),
        Effect.catchAll((error) => skip<Todo>(`${file} skipped: ${error.message}`))
      )
    }

    const projects = (yield* Effect.forEach(folders, projectsIn)).flat()
    const todos = (yield* Effect.forEach(projects, todosOf, { concurrency: 16 })).flat()
    return { projects, todos, problems }
  })

  const setProjects = makeSetter(
    Schema.equivalence(Schema.Array(Project)),
    (projects) => cache.setProjects(computer, projects)
  )
  const setTodos = makeSetter(Schema.equivalence(Schema.Array(Todo)), (todos) => cache.setTodos(computer, todos))
  // A problem is logged when it appears, not again every minute while it lasts.
  let reported = new Set<string>()
  // The loop and a client's refresh must not interleave their compare-and-set.
  const lock = yield* Effect.makeSemaphore(1)

  const refresh = lock.withPermits(1)(Effect.gen(function*() {
    const { problems, projects, todos } = yield* read
    for (const problem of problems) {
      if (!reported.has(problem)) yield* Effect.logWarning(problem)
    }
    reported = problems
    const now = yield* Clock.currentTimeMillis
    yield* setProjects(projects, now)
    yield* setTodos(todos, now)
  }))

  // Read before the layer is up, so a started daemon already serves them.
  yield* refresh
  yield* Effect.forkScoped(Effect.schedule(refresh, Schedule.spaced("60 seconds")))
  return { refresh } satisfies ProjectsService
})

export class Projects extends Context.Tag("termfleet/Projects")<Projects, ProjectsService>() {
  static readonly layer: Layer.Layer<Projects, never, DaemonConfig | SessionCache | FileSystem.FileSystem> =
    Layer.scoped(Projects, makeProjects)
}
