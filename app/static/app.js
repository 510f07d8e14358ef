// Completions as you type, Korean IME friendly: suggestions follow every keystroke, a
// half-typed syllable included (the input and compositionupdate events both ask).
"use strict";
const input = document.getElementById("q");
const list = document.getElementById("suggestions");
const statusLine = document.getElementById("status");
const K = 5;
// how a completion matched what was typed, when not key for key (models/readings.py)
const MATCH = {
  initials: ["초성", "initial consonants (ㅅㄱ → 사과)"],
  layout: ["한/영", "typed in English mode (dkssud → 안녕)"],
  typo: ["오타", "one wrong key (먹엇다 → 먹었다)"],
};

let items = [];        // [{text, probability, match, context}] shown now
let prefix = "";       // the part of the text they replace
let shownFor = "";     // the text they answer (typing on makes them stale until the next)
let selected = 0;
let chosen = null;     // the word picked with the arrow keys, kept when fresh answers come
let asked = 0;         // number of the latest request; older answers are dropped
let inFlight = null;   // AbortController of the request in flight
let acceptAfterComposition = false;

// What the service learns of whoever types here (POST /learn) goes under a random id kept in
// this browser; "forget me" deletes all of it (DELETE /users/<id>) and starts a new id.
const USER_KEY = "autocomplete-user";
function newUser() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));  // also where randomUUID is not
  return "demo-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
function keep(id) { try { localStorage.setItem(USER_KEY, id); } catch (e) { /* private */ } }
let user = (() => { try { return localStorage.getItem(USER_KEY); } catch (e) { return null; } })()
  || newUser();
keep(user);

function typedText() {
  // what is left of the caret: suggestions complete the word being typed there
  const caret = input.selectionEnd ?? input.value.length;
  return input.value.slice(0, caret);
}

async function suggest() {
  const text = typedText();
  const mine = ++asked;
  if (inFlight) inFlight.abort();
  inFlight = new AbortController();
  try {
    const r = await fetch("/complete", {
      method: "POST", headers: {"Content-Type": "application/json"},
      body: JSON.stringify({text, k: K, user}), signal: inFlight.signal,
    });
    if (mine !== asked) return;
    if (!r.ok) { show([], "", text, `error ${r.status}`); return; }
    const reply = await r.json();
    if (mine !== asked) return;
    const personal = (r.headers.get("Server-Timing") || "").includes('user;desc="personal"');
    const who = personal ? " · 맞춤 personal" : "";
    show(reply.completions, reply.prefix, text,
         `model ${reply.model} · ${reply.took_ms.toFixed(1)} ms${who}`);
  } catch (e) {
    if (e.name !== "AbortError" && mine === asked) {
      show([], "", text, "the server does not answer");
    }
  }
}

function show(completions, typed, text, status) {
  items = completions;
  prefix = typed;
  shownFor = text;
  selected = Math.max(0, items.findIndex((c) => c.text === chosen));
  statusLine.textContent = status;
  render();
}

function render() {
  list.replaceChildren(...items.map((c, i) => {
    const li = document.createElement("li");
    li.setAttribute("role", "option");
    li.setAttribute("aria-selected", String(i === selected));
    li.dataset.index = String(i);
    const word = document.createElement("span");
    word.className = "word";
    word.textContent = c.text;
    if (MATCH[c.match]) [word.dataset.match, word.title] = MATCH[c.match];  // a tag after it
    const bar = document.createElement("span");
    bar.className = "bar";
    const fill = document.createElement("span");
    fill.style.width = `${Math.max(1, Math.round(c.probability * 100))}%`;
    bar.append(fill);
    const pct = document.createElement("span");
    pct.className = "pct";
    pct.textContent = percent(c.probability);
    li.append(word, bar, pct);
    return li;
  }));
  input.setAttribute("aria-expanded", String(items.length > 0));
  list.dataset.for = shownFor;
}

function percent(p) {
  if (p >= 0.1) return `${Math.round(p * 100)}%`;
  if (p >= 0.001) return `${(p * 100).toFixed(1)}%`;
  return "<0.1%";
}

function typedPart(before, choice) {
  // how much of `before` (the text left of the caret) the choice replaces, or -1 where it
  // no longer fits: the answer can be older than the last keystroke ("mo" typed, the list
  // still answers "m"), and a word typed on past it must not be doubled ("mmovie")
  if (before === shownFor) return prefix.length;
  const start = shownFor.length - prefix.length;
  if (!before.startsWith(shownFor.slice(0, start))) return -1;
  return choice.text.startsWith(before.slice(start)) ? before.length - start : -1;
}

function accept(index) {
  const choice = items[index];
  if (!choice) return false;
  const before = typedText();
  // a context read as Hangul (typed in English mode) replaces all that was typed
  const replaced = choice.context == null ? typedPart(before, choice)
    : before === shownFor ? before.length : -1;
  if (replaced < 0) return false;  // stale: the answer for what is typed now is on its way
  const head = before.slice(0, before.length - replaced) + (choice.context ?? "") +
    choice.text + " ";
  input.value = head + input.value.slice(before.length);
  input.setSelectionRange(head.length, head.length);
  items = [];
  chosen = null;
  render();
  suggest();  // the next word
  return true;
}

async function learn() {
  // the sentence in the box, as typed and accepted, becomes part of what is known of `user`
  const text = input.value.trim();
  if (!text) return;
  const r = await fetch("/learn", {
    method: "POST", headers: {"Content-Type": "application/json"},
    body: JSON.stringify({user, text}),
  }).catch(() => null);
  if (!r || !r.ok) {
    statusLine.textContent = `not learned (${r ? "error " + r.status : "no answer"})`;
    return;
  }
  input.value = "";
  items = [];
  render();
  await suggest();
  statusLine.textContent = "배웠어요 · learned: your words now rank higher here";
}

async function forget() {
  const r = await fetch(`/users/${encodeURIComponent(user)}`, {method: "DELETE"})
    .catch(() => null);
  if (!r || !r.ok) {
    statusLine.textContent = `not forgotten (${r ? "error " + r.status : "no answer"}): retry`;
    return;
  }
  user = newUser();
  keep(user);
  await suggest();
  statusLine.textContent = "잊었어요 · forgotten: everything learned here is deleted";
}

document.getElementById("learn").addEventListener("click", () => { learn(); input.focus(); });
document.getElementById("forget").addEventListener("click", () => { forget(); input.focus(); });
input.addEventListener("input", () => { chosen = null; suggest(); });
// compositionupdate comes before the field shows the new syllable: ask once it does
input.addEventListener("compositionupdate", () => setTimeout(suggest, 0));
input.addEventListener("compositionend", () => {
  if (acceptAfterComposition) {
    acceptAfterComposition = false;
    setTimeout(() => accept(selected), 0);
  }
});
input.addEventListener("keydown", (e) => {
  const composing = e.isComposing || e.keyCode === 229;
  if (e.key === "ArrowDown" || e.key === "ArrowUp") {
    if (!items.length) return;
    e.preventDefault();
    selected = (selected + (e.key === "ArrowDown" ? 1 : items.length - 1)) % items.length;
    chosen = items[selected].text;
    render();
  } else if (e.key === "Enter" && (e.ctrlKey || e.metaKey) && !composing) {
    e.preventDefault();
    learn();  // Ctrl+Enter: the sentence is done
  } else if (e.key === "Tab" || e.key === "Enter") {
    if (!items.length) return;
    e.preventDefault();
    if (!composing) { accept(selected); return; }
    // the IME commits the syllable first (compositionend accepts); an IME that keeps
    // composing through Tab is overruled a moment later
    acceptAfterComposition = true;
    setTimeout(() => {
      if (acceptAfterComposition) { acceptAfterComposition = false; accept(selected); }
    }, 50);
  } else if (e.key === "Escape") {
    items = [];
    chosen = null;
    render();
  }
});
list.addEventListener("mousedown", (e) => {
  const li = e.target.closest("li");
  if (li) { e.preventDefault(); accept(Number(li.dataset.index)); }
});
input.focus();
suggest();
