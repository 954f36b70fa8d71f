/**
 * The dashboard's HTML and CSS. The page holds no inline script or style, so
 * the Content-Security-Policy can be `'self'` only; everything it shows is
 * filled in by `script.ts` with `textContent`.
 */

export const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>termfleet</title>
<link rel="stylesheet" href="/dashboard.css">
<script src="/dashboard.js" defer></script>
</head>
<body>
<header>
  <h1>termfleet</h1>
  <nav>
    <button type="button" data-view="sessions" data-testid="tab-sessions" aria-pressed="true">Sessions</button>
    <button type="button" data-view="preparation" data-testid="tab-preparation" aria-pressed="false">Preparation</button>
  </nav>
  <span class="connection" data-testid="connection" data-state="connecting">connecting…</span>
</header>
<div class="error" data-testid="error" role="alert" hidden>
  <span data-testid="error-message"></span>
  <button type="button" data-testid="error-dismiss" aria-label="dismiss">×</button>
</div>
<main>
  <section data-testid="sessions-view">
    <form class="new-session" data-testid="new-session-form">
      <label>Computer <select name="computer" data-testid="new-computer" required></select></label>
      <label>Title <input name="title" data-testid="new-title" maxlength="200" placeholder="optional"></label>
      <label>Project <input name="projectPath" data-testid="new-project" list="project-paths" placeholder="/absolute/path"></label>
      <datalist id="project-paths"></datalist>
      <label>Command <input name="command" data-testid="new-command" placeholder="default shell"></label>
      <button type="submit" data-testid="new-submit">Start session</button>
    </form>
    <div data-testid="computers"></div>
    <p class="empty" data-testid="no-computers">No computer has answered yet.</p>
  </section>
  <section data-testid="preparation-view" hidden>
    <div data-testid="preparation"></div>
    <p class="empty" data-testid="no-projects">No projects. Start a daemon with --projects to list them.</p>
  </section>
</main>
</body>
</html>
`

export const css = `:root {
  color-scheme: dark;
  --bg: #111418; --panel: #1a1f26; --line: #2c333d; --text: #d8dee6; --dim: #8a94a3;
  --ok: #5fbf7f; --idle: #d6b456; --bad: #e0685f; --accent: #6ea8fe;
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--text); font: 14px/1.4 system-ui, sans-serif; }
header { display: flex; align-items: center; gap: 1rem; padding: .6rem 1rem; border-bottom: 1px solid var(--line); }
h1 { font-size: 1.1rem; margin: 0; }
h2 { font-size: 1rem; margin: 0; }
h3 { font-size: .9rem; margin: .8rem 0 .4rem; color: var(--dim); font-weight: 500; }
nav { display: flex; gap: .3rem; }
button, input, select { font: inherit; color: inherit; background: var(--panel); border: 1px solid var(--line); border-radius: 4px; padding: .25rem .5rem; }
button { cursor: pointer; }
button:disabled { opacity: .5; cursor: default; }
nav button[aria-pressed="true"] { border-color: var(--accent); }
.connection { margin-left: auto; font-size: .85rem; }
.connection[data-state="live"] { color: var(--ok); }
.connection[data-state="connecting"], .connection[data-state="reconnecting"] { color: var(--idle); }
.error { display: flex; justify-content: space-between; gap: 1rem; margin: .6rem 1rem 0; padding: .5rem .8rem; border: 1px solid var(--bad); border-radius: 4px; color: var(--bad); }
.error[hidden] { display: none; }
main { padding: 0 1rem 2rem; }
.new-session { display: flex; flex-wrap: wrap; align-items: end; gap: .6rem; margin: 1rem 0; }
.new-session label { display: flex; flex-direction: column; font-size: .8rem; color: var(--dim); gap: .2rem; }
.computer { margin: 1rem 0; padding: .6rem .8rem; background: var(--panel); border: 1px solid var(--line); border-radius: 6px; }
.computer-head { display: flex; align-items: baseline; gap: .6rem; }
.computer.is-offline { opacity: .55; }
.badge { font-size: .75rem; padding: 0 .4rem; border-radius: 3px; border: 1px solid currentColor; }
.online, .running { color: var(--ok); }
.idle, .in_progress, .ready { color: var(--idle); }
.offline, .exited { color: var(--bad); }
.pending, .done { color: var(--dim); }
.sessions { display: grid; grid-template-columns: repeat(auto-fill, minmax(26rem, 1fr)); gap: .6rem; }
.session { border: 1px solid var(--line); border-radius: 4px; padding: .5rem; min-width: 0; }
.session-head { display: flex; align-items: baseline; gap: .5rem; }
.session-title { font-weight: 600; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.meta { color: var(--dim); font-size: .8rem; display: flex; gap: .8rem; flex-wrap: wrap; }
pre { margin: .4rem 0; padding: .4rem; max-height: 12rem; overflow: auto; background: var(--bg); border-radius: 3px; font-size: .8rem; white-space: pre-wrap; word-break: break-all; }
.session form { display: flex; gap: .4rem; }
.session form input { flex: 1; min-width: 0; font-family: ui-monospace, monospace; }
.end { border-color: var(--bad); color: var(--bad); }
.empty { color: var(--dim); }
.empty[hidden] { display: none; }
.todos { list-style: none; margin: 0; padding: 0; }
.todos li { display: flex; gap: .6rem; padding: .15rem 0; }
.todos .badge { min-width: 6.5rem; text-align: center; }
`
