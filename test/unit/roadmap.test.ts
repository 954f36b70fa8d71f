import { describe, expect, it } from "@effect/vitest"
import { maxSlugLength, maxTodos, parseRoadmap, slugify } from "../../src/local/Roadmap.js"

const parse = (text: string) => parseRoadmap("alpha", "/p/termfleet", text)
const summary = (text: string) => parse(text).map(({ slug, status, title }) => ({ slug, status, title }))

describe("parseRoadmap", () => {
  it("reads each status from its checklist mark", () => {
    expect(summary("- [ ] Write docs\n- [.] Plan it\n- [>] Build it\n- [x] Ship it\n- [X] Announce it\n")).toEqual([
      { slug: "write-docs", status: "pending", title: "Write docs" },
      { slug: "plan-it", status: "ready", title: "Plan it" },
      { slug: "build-it", status: "in_progress", title: "Build it" },
      { slug: "ship-it", status: "done", title: "Ship it" },
      { slug: "announce-it", status: "done", title: "Announce it" }
    ])
  })

  it("fills in the computer and project of every todo", () => {
    expect(parse("- [ ] one")).toEqual([
      { computer: "alpha", projectPath: "/p/termfleet", slug: "one", title: "one", status: "pending" }
    ])
  })

  it("accepts '*' bullets and indentation with spaces or tabs", () => {
    expect(summary("* [ ] star\n    - [x] nested\n\t* [>] tabbed\n")).toEqual([
      { slug: "star", status: "pending", title: "star" },
      { slug: "nested", status: "done", title: "nested" },
      { slug: "tabbed", status: "in_progress", title: "tabbed" }
    ])
  })

  it("ignores every line that is not a checklist item", () => {
    const text = [
      "# Roadmap",
      "",
      "Some prose - [ ] not at the start",
      "- plain bullet",
      "- [?] unknown mark",
      "- [  ] two spaces",
      "-[ ] no space after the bullet",
      "- [ ]no space after the mark",
      "+ [ ] plus bullet",
      "1. [ ] numbered",
      "- [ ] the only todo"
    ].join("\n")
    expect(summary(text)).toEqual([{ slug: "the-only-todo", status: "pending", title: "the only todo" }])
  })

  it("trims titles and skips items without one", () => {
    expect(summary("- [ ]\n- [x]    \n- [ ]   padded title   \n")).toEqual([
      { slug: "padded-title", status: "pending", title: "padded title" }
    ])
  })

  it("reads CRLF line endings", () => {
    expect(summary("# Roadmap\r\n- [ ] first\r\n- [x] second\r\n")).toEqual([
      { slug: "first", status: "pending", title: "first" },
      { slug: "second", status: "done", title: "second" }
    ])
  })

  it("makes slugs unique within the roadmap with -2, -3 suffixes", () => {
    expect(parse("- [ ] Fix it\n- [x] fix it!\n- [ ] Fix  it\n- [ ] fix-it-2\n").map((t) => t.slug)).toEqual([
      "fix-it",
      "fix-it-2",
      "fix-it-3",
      // Its own slug was taken by the second todo's suffix.
      "fix-it-2-2"
    ])
  })

  it("keeps suffixed slugs within the length limit", () => {
    const long = "a".repeat(100)
    const slugs = parse(`- [ ] ${long}\n- [ ] ${long}\n`).map((t) => t.slug)
    expect(slugs).toEqual(["a".repeat(maxSlugLength), `${"a".repeat(maxSlugLength - 2)}-2`])
  })

  it("reads at most maxTodos todos", () => {
    const text = Array.from({ length: maxTodos + 5 }, (_, i) => `- [ ] todo ${i}`).join("\n")
    const todos = parse(text)
    expect(todos).toHaveLength(maxTodos)
    expect(todos.at(-1)?.title).toBe(`todo ${maxTodos - 1}`)
  })

  it("reads nothing from an empty file", () => {
    expect(parse("")).toEqual([])
  })
})

describe("slugify", () => {
  it("lowercases and turns runs of other characters into single dashes", () => {
    expect(slugify("Add  OAuth2 / SSO login!")).toBe("add-oauth2-sso-login")
  })

  it("trims dashes from both ends", () => {
    expect(slugify("--- (draft) ---")).toBe("draft")
  })

  it("drops accents instead of splitting words", () => {
    expect(slugify("Café déjà vu")).toBe("cafe-deja-vu")
  })

  it("cuts at the length limit without leaving a trailing dash", () => {
    const slug = slugify(`${"a".repeat(maxSlugLength - 1)} bcd`)
    expect(slug).toBe("a".repeat(maxSlugLength - 1))
  })

  it("falls back to 'todo' when nothing URL-safe is left", () => {
    expect(slugify("日本語 🎉")).toBe("todo")
  })
})
