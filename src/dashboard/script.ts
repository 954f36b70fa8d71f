/**
 * The dashboard's script: plain browser JavaScript, served as
 * `/dashboard.js`. It keeps the fleet's state from the `/ws` frames and
 * renders it with `createElement` and `textContent` only: titles, paths and
 * terminal output come from terminals, so they never reach `innerHTML`.
 *
 * Session cards are kept per session and updated in place, so a redraw
 * never takes away the text someone is typing into a session.
 *
 * (No backticks or dollar-brace in here: this is a template string.)
 */

export const script = `"use strict";
(() => {
  const OFFLINE_AFTER_MS = 60000;
  const BACKOFF_FIRST_MS = 250;
  const BACKOFF_MAX_MS = 5000;

  const byTestId = (id) => document.querySelector('[data-testid="' + id + '"]');
  const keyOf = (...parts) => JSON.stringify(parts);

  // ---------- state: replaced by each *_initial frame, patched by every other event

  const state = {
    self: null,
    connected: false,
    sessions: new Map(),  // keyOf(computer, sessionId) -> Session
    computers: new Map(), // name -> { heardAt, removed }
    projects: new Map(),  // computer -> Project[]
    todos: new Map()      // computer -> Todo[]
  };

  const groupByComputer = (items) => {
    const groups = new Map();
    for (const item of items) {
      if (!groups.has(item.computer)) groups.set(item.computer, []);
      groups.get(item.computer).push(item);
    }
    return groups;
  };

  const heard = (computer) => state.computers.set(computer.name, { heardAt: Date.now(), removed: false });

  const apply = (frame) => {
    const data = frame.data;
    switch (frame.event) {
      case "sessions_initial":
        state.sessions = new Map(data.sessions.map((s) => [keyOf(s.computer, s.sessionId), s]));
        state.computers = new Map();
        data.computers.forEach(heard);
        break;
      case "session_updated":
        state.sessions.set(keyOf(data.computer, data.sessionId), data);
        break;
      case "session_removed":
        state.sessions.delete(keyOf(data.computer, data.sessionId));
        break;
      case "computer_updated":
        heard(data);
        break;
      case "computer_removed": {
        const known = state.computers.get(data.name);
        if (known) known.removed = true;
        for (const [key, s] of state.sessions) if (s.computer === data.name) state.sessions.delete(key);
        break;
      }
      case "preparation_initial":
        state.projects = groupByComputer(data.projects);
        state.todos = groupByComputer(data.todos);
        break;
      case "projects_updated":
        state.projects.set(data.computer, data.projects);
        break;
      case "todos_updated":
        state.todos.set(data.computer, data.todos);
        break;
      case "error":
        showError(data.message);
        return;
      default:
        return;
    }
    render();
  };

  // lastSeen is stamped by that computer's own clock; ageing it from when this
  // page last heard of the computer keeps a skewed clock from flipping it offline.
  const isOnline = (name) => {
    if (!state.connected) return false;
    if (name === state.self) return true;
    const entry = state.computers.get(name);
    return entry !== undefined && !entry.removed && Date.now() - entry.heardAt <= OFFLINE_AFTER_MS;
  };

  // ---------- REST

  const api = async (method, path, body) => {
    const init = { method, headers: {} };
    if (body !== undefined) {
      init.headers["content-type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (e) {
      throw new Error("the daemon is not reachable");
    }
    const text = await response.text();
    let json = null;
    try { json = text === "" ? null : JSON.parse(text); } catch (e) { json = null; }
    if (!response.ok) {
      throw new Error(json !== null && typeof json.message === "string" ? json.message : "HTTP " + response.status);
    }
    return json;
  };

  const showError = (message) => {
    byTestId("error-message").textContent = message;
    byTestId("error").hidden = false;
  };
  const clearError = () => { byTestId("error").hidden = true; };
  const reportErrors = (promise) => promise.then(clearError, (e) => showError(e.message));

  // ---------- rendering helpers

  const el = (tag, attrs, ...children) => {
    const node = document.createElement(tag);
    for (const name in attrs) node.setAttribute(name, attrs[name]);
    node.append(...children);
    return node;
  };

  const setText = (node, text) => { if (node.textContent !== text) node.textContent = text; };

  /** Puts nodes in this order under parent, moving only what is out of place (moving blurs inputs). */
  const syncChildren = (parent, nodes) => {
    nodes.forEach((node, i) => { if (parent.children[i] !== node) parent.insertBefore(node, parent.children[i] || null); });
    while (parent.children.length > nodes.length) parent.lastElementChild.remove();
  };

  const keepOnly = (map, keys) => { for (const key of map.keys()) if (!keys.has(key)) map.delete(key); };

  const ago = (millis) => {
    const seconds = Math.max(0, Math.round((Date.now() - millis) / 1000));
    if (seconds < 5) return "just now";
    if (seconds < 60) return seconds + " s ago";
    if (seconds < 3600) return Math.floor(seconds / 60) + " min ago";
    if (seconds < 172800) return Math.floor(seconds / 3600) + " h ago";
    return Math.floor(seconds / 86400) + " d ago";
  };

  const badge = (node, status) => { setText(node, status.replace("_", " ")); node.className = "badge " + status; };

  const projectName = (computer, path) => {
    if (path === null) return "no project";
    const known = (state.projects.get(computer) || []).find((p) => p.path === path);
    return known ? known.name + " (" + path + ")" : path;
  };

  // ---------- sessions view

  const sectionEls = new Map(); // computer -> { root, status, groups, empty }
  const groupEls = new Map();   // keyOf(computer, projectPath) -> { root, heading, list }
  const cardEls = new Map();    // keyOf(computer, sessionId) -> { root, ...fields }

  const computerSection = (name) => {
    let section = sectionEls.get(name);
    if (!section) {
      const status = el("span", { "data-testid": "computer-status" });
      const groups = el("div", {});
      const empty = el("p", { class: "empty" }, "no sessions");
      const root = el("section", { class: "computer", "data-testid": "computer", "data-computer": name },
        el("div", { class: "computer-head" }, el("h2", {}, name), status), groups);
      section = { root, status, groups, empty };
      sectionEls.set(name, section);
    }
    return section;
  };

  const projectGroup = (computer, path) => {
    const key = keyOf(computer, path);
    let group = groupEls.get(key);
    if (!group) {
      const heading = el("h3", { "data-testid": "project-name" });
      const list = el("div", { class: "sessions" });
      const root = el("div", { class: "project", "data-testid": "project-group", "data-project": path === null ? "" : path }, heading, list);
      group = { root, heading, list };
      groupEls.set(key, group);
    }
    return group;
  };

  const sessionCard = (session) => {
    const key = keyOf(session.computer, session.sessionId);
    let card = cardEls.get(key);
    if (card) return card;
    const id = encodeURIComponent(session.sessionId);
    const status = el("span", { "data-testid": "session-status" });
    const title = el("span", { class: "session-title", "data-testid": "session-title" });
    const command = el("span", { "data-testid": "session-command" });
    const activity = el("span", { "data-testid": "session-activity" });
    const output = el("pre", { "data-testid": "session-output" });
    const input = el("input", { "data-testid": "session-input", placeholder: "type a line, Enter sends it", autocomplete: "off" });
    const send = el("button", { type: "submit", "data-testid": "session-send" }, "Send");
    const end = el("button", { type: "button", class: "end", "data-testid": "session-end" }, "End");
    const form = el("form", { "data-testid": "session-input-form" }, input, send, end);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      if (input.value === "") return;
      send.disabled = true;
      reportErrors(api("POST", "/sessions/" + id + "/input", { text: input.value }).then(() => { input.value = ""; }))
        .finally(() => { send.disabled = false; });
    });
    end.addEventListener("click", () => {
      end.disabled = true;
      reportErrors(api("DELETE", "/sessions/" + id)).finally(() => { end.disabled = false; });
    });
    const root = el("article", { class: "session", "data-testid": "session", "data-session-id": session.sessionId, "data-computer": session.computer },
      el("div", { class: "session-head" }, status, title),
      el("div", { class: "meta" }, command, activity),
      output, form);
    card = { root, status, title, command, activity, output };
    cardEls.set(key, card);
    return card;
  };

  const updateCard = (card, session) => {
    badge(card.status, session.status);
    setText(card.title, session.title === "" ? session.sessionId : session.title);
    setText(card.command, session.command);
    setText(card.activity, "active " + ago(session.lastActivity));
    card.activity.title = new Date(session.lastActivity).toLocaleString();
    if (card.output.textContent !== session.lastOutput) {
      card.output.textContent = session.lastOutput;
      card.output.scrollTop = card.output.scrollHeight;
    }
  };

  const byCreation = (a, b) => a.createdAt - b.createdAt || (a.sessionId < b.sessionId ? -1 : 1);
  const nullsLast = (a, b) => a === b ? 0 : a === null ? 1 : b === null ? -1 : a < b ? -1 : 1;

  const renderSessions = () => {
    const sessions = groupByComputer([...state.sessions.values()]);
    const names = [...new Set([...state.computers.keys(), ...sessions.keys()])].sort();
    const usedGroups = new Set();
    const usedCards = new Set();
    const sections = names.map((name) => {
      const section = computerSection(name);
      const online = isOnline(name);
      badge(section.status, online ? "online" : "offline");
      section.root.classList.toggle("is-offline", !online);
      const mine = (sessions.get(name) || []).sort(byCreation);
      const paths = [...new Set(mine.map((s) => s.projectPath))].sort(nullsLast);
      const groups = paths.map((path) => {
        const group = projectGroup(name, path);
        usedGroups.add(keyOf(name, path));
        setText(group.heading, projectName(name, path));
        syncChildren(group.list, mine.filter((s) => s.projectPath === path).map((s) => {
          const card = sessionCard(s);
          usedCards.add(keyOf(s.computer, s.sessionId));
          updateCard(card, s);
          return card.root;
        }));
        return group.root;
      });
      syncChildren(section.groups, groups.length === 0 ? [section.empty] : groups);
      return section.root;
    });
    syncChildren(byTestId("computers"), sections);
    keepOnly(sectionEls, new Set(names));
    keepOnly(groupEls, usedGroups);
    keepOnly(cardEls, usedCards);
    byTestId("no-computers").hidden = names.length > 0;
  };

  // ---------- new session form

  /** Replaces a list's options only when they changed, so an open list stays open. */
  const setOptions = (list, values) => {
    if (JSON.stringify([...list.options].map((o) => o.value)) === JSON.stringify(values)) return;
    list.replaceChildren(...values.map((value) => el("option", { value }, value)));
  };

  const renderNewSessionForm = () => {
    const select = byTestId("new-computer");
    const chosen = select.value || state.self;
    const online = [...state.computers.keys()].filter(isOnline).sort();
    setOptions(select, online);
    if (online.includes(chosen)) select.value = chosen;
    byTestId("new-submit").disabled = online.length === 0;
    setOptions(document.getElementById("project-paths"), (state.projects.get(select.value) || []).map((p) => p.path));
  };

  byTestId("new-session-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    const body = { computer: form.elements.computer.value };
    for (const field of ["title", "projectPath", "command"]) {
      const value = form.elements[field].value.trim();
      if (value !== "") body[field] = value;
    }
    const submit = byTestId("new-submit");
    submit.disabled = true;
    reportErrors(api("POST", "/sessions", body).then(() => {
      form.elements.title.value = "";
      form.elements.command.value = "";
    })).finally(() => { submit.disabled = false; });
  });
  byTestId("new-computer").addEventListener("change", () => renderNewSessionForm());

  // ---------- preparation view

  const renderPreparation = () => {
    const computers = [...new Set([...state.projects.keys(), ...state.todos.keys()])].sort();
    const sections = computers.map((computer) => {
      const projects = state.projects.get(computer) || [];
      const todos = state.todos.get(computer) || [];
      const paths = [...new Set([...projects.map((p) => p.path), ...todos.map((t) => t.projectPath)])].sort();
      return el("section", { class: "computer", "data-testid": "prep-computer", "data-computer": computer },
        el("h2", {}, computer),
        ...paths.map((path) => {
          const mine = todos.filter((t) => t.projectPath === path);
          return el("div", { class: "project", "data-testid": "prep-project", "data-project": path },
            el("h3", {}, projectName(computer, path)),
            mine.length === 0
              ? el("p", { class: "empty" }, "no todos")
              : el("ul", { class: "todos" }, ...mine.map((todo) => {
                const status = el("span", {});
                badge(status, todo.status);
                return el("li", { "data-testid": "todo", "data-slug": todo.slug, "data-status": todo.status },
                  status, el("span", { "data-testid": "todo-title" }, todo.title));
              })));
        }));
    });
    byTestId("preparation").replaceChildren(...sections);
    byTestId("no-projects").hidden = sections.length > 0;
  };

  const render = () => {
    renderSessions();
    renderNewSessionForm();
    renderPreparation();
  };

  // ---------- views

  for (const tab of document.querySelectorAll("nav button")) {
    tab.addEventListener("click", () => {
      for (const other of document.querySelectorAll("nav button")) {
        const selected = other === tab;
        other.setAttribute("aria-pressed", String(selected));
        byTestId(other.dataset.view + "-view").hidden = !selected;
      }
    });
  }
  byTestId("error-dismiss").addEventListener("click", clearError);

  // ---------- live connection, reconnecting with capped exponential backoff

  const setConnection = (name, label) => {
    const node = byTestId("connection");
    node.dataset.state = name;
    setText(node, label);
  };

  let attempts = 0;
  const connect = () => {
    const socket = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws");
    socket.addEventListener("open", () => {
      attempts = 0;
      state.connected = true;
      setConnection("live", "live");
      socket.send(JSON.stringify({ type: "subscribe", topic: "sessions" }));
      socket.send(JSON.stringify({ type: "subscribe", topic: "preparation" }));
      api("GET", "/health").then((health) => { state.self = health.computer; render(); }, (e) => showError(e.message));
    });
    socket.addEventListener("message", (message) => {
      let frame;
      try { frame = JSON.parse(message.data); } catch (e) { return; }
      if (frame !== null && typeof frame === "object" && typeof frame.event === "string") apply(frame);
    });
    socket.addEventListener("close", () => {
      state.connected = false;
      const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** attempts);
      attempts += 1;
      setConnection("reconnecting", "reconnecting…");
      render();
      setTimeout(connect, delay);
    });
  };

  render();
  connect();
  // Relative times and offline computers change with time alone.
  setInterval(render, 5000);
})();
`
