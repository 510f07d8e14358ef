// Completions as you type, Korean IME friendly: suggestions follow every keystroke, a
// half-typed syllable included (the input and compositionupdate events both ask).
"use strict";
const input = document.getElementById("q");
const list = document.getElementById("suggestions");
const statusLine = document.getElementById("status");
const K = 5;

let items = [];        // [{text, probability}] shown now
let prefix = "";       // the part of the text they replace
let selected = 0;
let asked = 0;         // number of the latest request; older answers are dropped
let inFlight = null;   // AbortController of the request in flight
let acceptAfterComposition = false;

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
      body: JSON.stringify({text, k: K}), signal: inFlight.signal,
    });
    if (mine !== asked) return;
    if (!r.ok) { show([], "", `error ${r.status}`); return; }
    const reply = await r.json();
    if (mine !== asked) return;
    show(reply.completions, reply.prefix,
         `model ${reply.model} · ${reply.took_ms.toFixed(1)} ms`);
  } catch (e) {
    if (e.name !== "AbortError" && mine === asked) show([], "", "the server does not answer");
  }
}

function show(completions, typed, status) {
  items = completions;
  prefix = typed;
  selected = 0;
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
}

function percent(p) {
  if (p >= 0.1) return `${Math.round(p * 100)}%`;
  if (p >= 0.001) return `${(p * 100).toFixed(1)}%`;
  return "<0.1%";
}

function accept(index) {
  const choice = items[index];
  if (!choice) return false;
  const caret = input.selectionEnd ?? input.value.length;
  const before = input.value.slice(0, caret);
  const head = before.slice(0, before.length - prefix.length) + choice.text + " ";
  input.value = head + input.value.slice(caret);
  input.setSelectionRange(head.length, head.length);
  items = [];
  render();
  suggest();  // the next word
  return true;
}

input.addEventListener("input", suggest);
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
    render();
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
    render();
  }
});
list.addEventListener("mousedown", (e) => {
  const li = e.target.closest("li");
  if (li) { e.preventDefault(); accept(Number(li.dataset.index)); }
});
input.focus();
suggest();
