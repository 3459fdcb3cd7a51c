// The document as text, beside the canvas (issue 13): the topolab/v1 JSON (two-space indent, keys in the order of
// the format's spec) or the containerlab YAML the server writes and reads (/convert/to-clab, /convert/from-clab,
// the import's and the export's own conversions). Editable: a pause in typing checks the text (JSON syntax here,
// with its line:column; every rule by the server's check, the one the canvas uses, with the same JSON paths,
// each put on the line of the text it is about) and, when it has no error, commits it to the canvas as one edit
// (one undo step). An edit on the canvas rewrites the text, unless the text holds edits not applied: those are
// never overwritten, and the pane says so. Nothing here runs while the pane is closed, and the canvas's edits are
// written out once per pause, not once per change: 500 nodes must not slow the canvas or the typing.
// The pure parts (the key order, a JSON reader that knows where each path is) are exported for the unit tests.

import {api, request, ApiError} from './api.js';
import {el} from './dom.js';

// --- the document as JSON text, keys in the spec's order ---------------------------------------------------

// Each object's keys as /help/format/ lists them; keys it does not list (errors the check names) follow, as written.
const ORDER = {
  document: ['format', 'name', 'description', 'nodes', 'links', 'annotations'],
  node: ['name', 'kind', 'image', 'position', 'routes', 'sysctls', 'env', 'files', 'exec', 'resources'],
  position: ['x', 'y'],
  route: ['to', 'via', 'dev'],
  file: ['path', 'content', 'mode'],
  resources: ['cpus', 'memory_mb', 'pids'],
  link: ['endpoints', 'impairment', 'state', 'mtu'],
  endpoint: ['node', 'interface', 'addresses', 'mac'],
  impairment: ['delay_ms', 'jitter_ms', 'loss_percent', 'rate_kbit'],
};
// What the values under a key are: an object of a kind above (one, or a list of them).
const CHILDREN = {
  document: {nodes: ['node'], links: ['link']},
  node: {position: 'position', routes: ['route'], files: ['file'], resources: 'resources'},
  link: {endpoints: ['endpoint'], impairment: 'impairment'},
};

const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

function ordered(value, kind) {
  if (!isObject(value)) return value;
  const out = {};
  const keys = ORDER[kind];
  for (const k of keys) if (Object.hasOwn(value, k)) out[k] = value[k];
  for (const k of Object.keys(value)) if (!keys.includes(k)) out[k] = value[k];
  for (const [k, child] of Object.entries(CHILDREN[kind] || {})) {
    if (!Object.hasOwn(out, k)) continue;
    if (Array.isArray(child)) { if (Array.isArray(out[k])) out[k] = out[k].map((v) => ordered(v, child[0])); }
    else out[k] = ordered(out[k], child);
  }
  return out;
}

// A copy of the document with its keys in the spec's order (the values are not copied).
export const orderedDocument = (doc) => ordered(doc, 'document');

// The topolab/v1 text of a document: what export writes, keys in the spec's order.
export const documentText = (doc) => `${JSON.stringify(orderedDocument(doc), null, 2)}\n`;

// Whether two JSON values are equal, whatever the order of their keys.
export function sameValue(a, b) {
  if (a === b) return true;
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((v, i) => sameValue(v, b[i]));
  if (!isObject(a) || !isObject(b)) return false;
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => Object.hasOwn(b, k) && sameValue(a[k], b[k]));
}

// --- reading JSON text, knowing where each value is ---------------------------------------------------------

// Offsets where each line begins, for offset -> line:column.
function lineStarts(text) {
  const starts = [0];
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) starts.push(i + 1);
  return starts;
}

// The 1-based {line, column} of an offset.
export function positionOf(starts, offset) {
  let lo = 0, hi = starts.length - 1;
  while (lo < hi) { const mid = (lo + hi + 1) >> 1; if (starts[mid] <= offset) lo = mid; else hi = mid - 1; }
  return {line: lo + 1, column: offset - starts[lo] + 1};
}

const MAX_DEPTH = 500;
const ESCAPES = {'"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t'};
const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const PLAIN = /[\u0000-\u001f\\]/; // a string holding none of these is its text between the quotes

class SyntaxProblem extends Error {
  constructor(offset, message) { super(message); this.offset = offset; }
}

// Read JSON text: {value, places, starts, error}. `places` maps each value's path (as the server writes paths:
// nodes[2].name, links[0].endpoints[1].addresses[0], sysctls.net.ipv4.ip_forward) to its [start, end) offsets
// and, for an object's member, where its key starts. `error` ({offset, line, column, message}) is the first
// syntax error (a key given twice in one object is one: JSON readers keep the last one silently).
// Written for speed (a document of 500 nodes is some 15,000 lines, read after each pause in typing).
export function parseJson(text) {
  const places = new Map();
  const starts = lineStarts(text);
  const n = text.length;
  let i = 0;
  const fail = (message, at = i) => { throw new SyntaxProblem(at, message); };
  const found = () => (i >= n ? 'the end of the text' : `'${text[i]}'`);
  const skip = () => {
    for (let c = text.charCodeAt(i); c === 32 || c === 10 || c === 13 || c === 9; c = text.charCodeAt(++i));
  };

  function string() {
    const begin = i;
    const close = text.indexOf('"', i + 1);
    if (close > 0) {
      const plain = text.slice(i + 1, close);
      if (!PLAIN.test(plain)) { i = close + 1; return plain; }
    }
    return escaped(begin);
  }

  function escaped(begin) {
    i = begin + 1;
    let out = '';
    let run = i;
    for (;;) {
      if (i >= n) fail('a string is not closed (a " is missing)', begin);
      const c = text[i];
      if (c === '"') { out += text.slice(run, i); i += 1; return out; }
      if (c === '\n') fail('a string is not closed before the end of its line (a " is missing)', begin);
      if (c < ' ') fail('a control character in a string (write \\t or \\n)');
      if (c === '\\') {
        out += text.slice(run, i);
        const e = text[i + 1];
        if (e === 'u') {
          const hex = text.slice(i + 2, i + 6);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) fail('\\u is followed by four hexadecimal digits');
          out += String.fromCharCode(parseInt(hex, 16));
          i += 6;
        } else if (e !== undefined && Object.hasOwn(ESCAPES, e)) {
          out += ESCAPES[e];
          i += 2;
        } else fail(`'\\${e === undefined ? '' : e}' is not an escape of JSON (\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)`);
        run = i;
        continue;
      }
      i += 1;
    }
  }

  function value(path, depth, keyAt) {
    skip();
    if (depth > MAX_DEPTH) fail('the text is nested too deeply');
    const begin = i;
    const c = text.charCodeAt(i);
    let v;
    if (c === 123) { // {
      i += 1;
      v = {};
      skip();
      if (text.charCodeAt(i) === 125) i += 1;
      else {
        for (;;) {
          skip();
          if (text.charCodeAt(i) !== 34) {
            fail(text[i] === '}' ? "a ',' before '}': JSON allows no comma after the last member"
              : `expected a key in double quotes, found ${found()}`);
          }
          const at = i;
          const key = string();
          if (Object.hasOwn(v, key)) fail(`the key "${key}" is given twice in this object`, at);
          skip();
          if (text.charCodeAt(i) !== 58) fail(`expected ':' after the key "${key}", found ${found()}`);
          i += 1;
          v[key] = value(path ? `${path}.${key}` : key, depth + 1, at);
          skip();
          const next = text.charCodeAt(i);
          if (next === 44) { i += 1; continue; }
          if (next === 125) { i += 1; break; }
          fail(`expected ',' or '}' after the value of "${key}", found ${found()}`);
        }
      }
    } else if (c === 91) { // [
      i += 1;
      v = [];
      skip();
      if (text.charCodeAt(i) === 93) i += 1;
      else {
        for (;;) {
          skip();
          if (text.charCodeAt(i) === 93) fail("a ',' before ']': JSON allows no comma after the last item");
          v.push(value(`${path}[${v.length}]`, depth + 1, null));
          skip();
          const next = text.charCodeAt(i);
          if (next === 44) { i += 1; continue; }
          if (next === 93) { i += 1; break; }
          fail(`expected ',' or ']' after an item of the list, found ${found()}`);
        }
      }
    } else if (c === 34) {
      v = string();
    } else if (c === 45 || (c >= 48 && c <= 57)) {
      NUMBER.lastIndex = i;
      const m = NUMBER.exec(text);
      if (!m || m[0] === '-') fail(`'${text.slice(i, i + 12).split(/[\s,\]}]/)[0]}' is not a number in JSON`);
      i += m[0].length;
      if (/[0-9A-Za-z.]/.test(text[i] || '')) fail(`'${text.slice(begin, i + 1)}…' is not a number in JSON`, begin);
      v = Number(m[0]);
    } else if (text.startsWith('true', i)) { v = true; i += 4; }
    else if (text.startsWith('false', i)) { v = false; i += 5; }
    else if (text.startsWith('null', i)) { v = null; i += 4; }
    else if (i >= n) fail('the text ends where a value was expected');
    else {
      const word = (/^[A-Za-z_]\w*/.exec(text.slice(i, i + 40)) || [text[i]])[0];
      fail(`expected a value (a string in double quotes, a number, true, false, null, {…} or […]), found '${word}'`);
    }
    places.set(path, {start: begin, end: i, key: keyAt});
    return v;
  }

  try {
    const v = value('', 0, null);
    skip();
    if (i < n) fail(`unexpected ${found()} after the end of the document`);
    return {value: v, places, starts, error: null};
  } catch (e) {
    if (!(e instanceof SyntaxProblem)) throw e;
    return {value: undefined, places, starts, error: {offset: e.offset, ...positionOf(starts, e.offset), message: e.message}};
  }
}

// Where a server path is in the text: its place, or its nearest parent's (a key that is missing is about the
// object that lacks it). null when no part of it is in the text.
export function placeOf(places, path) {
  let p = path || '';
  for (;;) {
    const hit = places.get(p);
    if (hit) return hit;
    if (!p) return null;
    const m = /^(.*?)(?:\[\d+\]|\.[^.[\]]*)$/.exec(p);
    p = m ? m[1] : '';
  }
}

// A server's problem ({path, message}) placed in the text read: its line and column, the value's offsets.
export function placed(read, p, level) {
  const hit = placeOf(read.places, p.path);
  const where = hit ? positionOf(read.starts, hit.key ?? hit.start) : null;
  return {level, path: p.path, message: p.message, line: where && where.line, column: where && where.column,
    start: hit ? hit.start : null, end: hit ? hit.end : null};
}

// --- the pane ---------------------------------------------------------------------------------------------

const CHECK_DELAY = 400; // ms after the last keystroke: one check, and one canvas edit, per pause in typing
// ms after the canvas's last change before the text is written again (the YAML is the server's: a longer pause)
const WRITE_DELAY = {json: 150, clab: 400};
const plural = (n, word) => `${n} ${word}${n === 1 ? '' : 's'}`;
const FORMATS = {json: 'topolab/v1 JSON', clab: 'containerlab YAML'};

export class TextView {
  // root: the pane (#text-view, inside the canvas's section); ed: the editor (its doc, its commit);
  // hooks: {apply(doc): commit a document from the text, undo(), redo(), onResize(change): run a change of the
  // canvas's width keeping the drawing in place, readonly, owner}.
  constructor(root, ed, hooks) {
    this.root = root;
    this.ed = ed;
    this.hooks = hooks;
    this.wrap = root.closest('.canvas-wrap');
    const $ = (sel) => root.querySelector(sel);
    this.area = $('.text-area');
    this.gutter = $('.text-gutter');
    this.lines = $('.text-gutter-lines');
    this.summary = $('.text-summary');
    this.list = $('.text-problems');
    this.notes = $('.text-notes');
    this.notice = $('.text-notice');
    this.toggleButton = document.getElementById('btn-text');
    this.isOpen = false;
    this.format = 'json';
    this.base = null; // the document the text says (it was written from it, or applied to it)
    this.synced = null; // the text that says exactly `base`
    this.conflict = false; // the canvas changed while the text held edits not applied
    this.unwritable = null; // the document cannot be written in this format now (its errors)
    this.lost = []; // what the containerlab YAML does not carry (the server's warnings)
    this.problems = []; // [{level, path, message, line, column, start, end}]
    this.parsed = null; // the text's last reading: {document} when it is the document, else null
    this.seq = 0;
    this.checkTimer = null;
    this.writeTimer = null;
    this.lineCount = 0;
    this.lineHeight = 18;
    this.area.readOnly = !!hooks.readonly;

    this.area.addEventListener('input', () => this.typed());
    this.area.addEventListener('scroll', () => this.paintGutter());
    this.area.addEventListener('keydown', (e) => this.key(e));
    new ResizeObserver(() => this.paintGutter()).observe(this.area);
    for (const radio of root.querySelectorAll('input[name=text-format]')) {
      radio.addEventListener('change', () => { if (radio.checked) this.setFormat(radio.value); });
    }
    $('.text-close').addEventListener('click', () => this.toggle(false));
    this.toggleButton.addEventListener('click', () => this.toggle());
    this.resizer($('.text-resize'));
  }

  get dirty() { return this.synced !== null && this.area.value !== this.synced; }

  // --- open, close, width ---

  toggle(open = !this.isOpen, focus = true) {
    if (open === this.isOpen) return;
    this.isOpen = open;
    this.hooks.onResize(() => {
      this.root.hidden = !open;
      this.wrap.classList.toggle('text-open', open);
    });
    this.toggleButton.setAttribute('aria-pressed', String(open));
    this.toggleButton.classList.toggle('active', open);
    if (!open) { clearTimeout(this.checkTimer); clearTimeout(this.writeTimer); return; }
    this.lineHeight = parseFloat(getComputedStyle(this.area).lineHeight) || 18;
    // Opened again: the text shows the document as it is now, unless it holds edits of its own (checked again:
    // closing the pane dropped the check they were waiting for).
    if (this.dirty) {
      if (this.ed.doc !== this.base) { this.conflict = true; this.showNotice(); }
      this.typed();
    } else if (this.ed.doc !== this.base) this.changed();
    else this.paintGutter();
    if (focus) this.area.focus({preventScroll: true});
  }

  resizer(handle) {
    const setWidth = (px) => {
      const total = this.wrap.getBoundingClientRect().width;
      const width = Math.round(Math.max(260, Math.min(total - 220, px)));
      this.hooks.onResize(() => this.wrap.style.setProperty('--text-width', `${width}px`));
      handle.setAttribute('aria-valuenow', String(width));
    };
    const current = () => this.root.getBoundingClientRect().width;
    handle.addEventListener('pointerdown', (e) => {
      e.preventDefault();
      handle.setPointerCapture(e.pointerId);
      const right = this.wrap.getBoundingClientRect().right;
      const move = (ev) => setWidth(right - ev.clientX);
      const up = () => { handle.removeEventListener('pointermove', move); handle.removeEventListener('pointerup', up); };
      handle.addEventListener('pointermove', move);
      handle.addEventListener('pointerup', up);
    });
    handle.addEventListener('keydown', (e) => {
      const step = e.shiftKey ? 80 : 20;
      if (e.key === 'ArrowLeft') { e.preventDefault(); setWidth(current() + step); }
      if (e.key === 'ArrowRight') { e.preventDefault(); setWidth(current() - step); }
    });
  }

  // --- the canvas's side: its document changed ---

  // Called after every change of the editor's document (editor.js render and markDirty); cheap when nothing is to do.
  changed() {
    if (this.applying) return; // the text's own edit: apply() takes it from here
    if (!this.isOpen || this.ed.doc === this.base) return;
    clearTimeout(this.writeTimer);
    this.writeTimer = setTimeout(() => this.write(), this.base === null ? 0 : WRITE_DELAY[this.format]);
  }

  // Write the editor's document as text, unless the text holds edits of its own (then say so, change nothing).
  async write({force = false} = {}) {
    const doc = this.ed.doc;
    if (!doc || (doc === this.base && !force)) return;
    if (this.dirty && !force) { this.conflict = true; this.showNotice(); return; }
    const seq = ++this.seq;
    clearTimeout(this.checkTimer);
    this.checkTimer = null;
    const before = this.area.value;
    let text, lost = [], unwritable = null;
    if (this.format === 'json') text = documentText(doc);
    else {
      try {
        const answer = await request('POST', 'convert/to-clab', doc);
        text = answer.text;
        lost = answer.warnings || [];
      } catch (e) {
        if (seq !== this.seq) return;
        text = '';
        unwritable = e instanceof ApiError && e.status === 400 && e.errors.length ? e.errors : [{path: '', message: e.message}];
      }
      if (seq !== this.seq) return;
      if (this.area.value !== before) { this.conflict = true; this.showNotice(); return; } // typed meanwhile
    }
    this.base = doc;
    this.lost = lost;
    this.unwritable = unwritable;
    this.conflict = false;
    this.setText(text);
    this.area.readOnly = !!this.hooks.readonly || !!unwritable;
    this.problems = [];
    this.parsed = null;
    // Rewritten just after an apply (the canvas placed a node the text gave no position): still that edit.
    const placing = this.state === 'applied' && Date.now() - this.appliedAt < 2000;
    this.showProblems(unwritable ? 'unwritable' : placing ? 'applied' : 'written');
    this.showNotice();
    this.canvasChecked();
  }

  // The canvas's check answered (editor.js setProblems): a text that says the canvas's document shows its
  // problems too, each on its line (JSON; the YAML's lines are the import's, which a check of the text gives).
  canvasChecked() {
    if (!this.isOpen || this.format !== 'json' || this.dirty || this.ed.doc !== this.base || this.unwritable) return;
    if (!['written', 'applied', 'same', 'back'].includes(this.state)) return;
    const read = this.read(this.area.value);
    if (read.error) return;
    this.problems = (this.ed.problems || []).map((p) => placed(read, p, p.level));
    this.showProblems(this.state);
    this.paintGutter();
  }

  // The JSON reading of a text, kept for the text it was made of (a document of 500 nodes costs some ms).
  read(text) {
    if (!this.lastRead || this.lastRead.text !== text) this.lastRead = {text, read: parseJson(text)};
    return this.lastRead.read;
  }

  // Replace the text, keeping the caret on its line and column and the scroll where it was.
  setText(text) {
    const area = this.area;
    const old = area.value;
    const caret = area.selectionStart;
    const starts = lineStarts(old.slice(0, caret));
    const line = starts.length - 1, column = caret - starts[line];
    const top = area.scrollTop, left = area.scrollLeft;
    area.value = text;
    this.synced = text;
    if (old && document.activeElement === area) {
      const next = lineStarts(text);
      const at = next[Math.min(line, next.length - 1)];
      const end = line + 1 < next.length ? next[line + 1] - 1 : text.length;
      area.setSelectionRange(Math.min(at + column, end), Math.min(at + column, end));
    }
    area.scrollTop = top;
    area.scrollLeft = left;
    this.paintGutter(true);
  }

  // --- the text's side: typing ---

  typed() {
    this.paintGutter(true);
    clearTimeout(this.checkTimer);
    this.checkTimer = setTimeout(() => this.check(), CHECK_DELAY);
    if (this.summary.dataset.level !== 'pending') {
      this.summary.dataset.level = 'pending';
      this.summary.textContent = 'Checking when you pause…';
    }
  }

  key(e) {
    const mod = e.ctrlKey || e.metaKey;
    const key = e.key.toLowerCase();
    // Undo and redo are the document's when the text says it exactly (its edits applied): the canvas and the
    // text go back together. While the text holds edits of its own, they are the text's (the browser's).
    if (mod && (key === 'z' || key === 'y') && !this.dirty && this.checkTimer === null) {
      e.preventDefault();
      if (key === 'y' || e.shiftKey) this.hooks.redo(); else this.hooks.undo();
    }
  }

  // Check the text (after a pause in typing): errors with their lines; none, the canvas gets the document.
  async check({force = false} = {}) {
    clearTimeout(this.checkTimer);
    this.checkTimer = null;
    const seq = ++this.seq;
    const text = this.area.value;
    if (!this.dirty && !force) { this.problems = []; this.showProblems('back'); this.paintGutter(); return; }
    let doc = null;
    let problems = [];
    if (this.format === 'json') {
      const read = this.read(text);
      if (read.error) {
        const e = read.error;
        problems = [{level: 'error', path: '', message: `not valid JSON: ${e.message}`, line: e.line, column: e.column,
          start: e.offset, end: e.offset + 1, syntax: true}];
      } else {
        let answer;
        try {
          answer = await api.validate(read.value);
        } catch (err) {
          if (seq !== this.seq) return;
          answer = err instanceof ApiError && err.status === 400 && err.errors.length ? {errors: err.errors, warnings: err.warnings} : null;
          if (!answer) { this.failed(err); return; }
        }
        if (seq !== this.seq) return;
        problems = (answer.errors || []).map((p) => placed(read, p, 'error')).concat((answer.warnings || []).map((p) => placed(read, p, 'warning')));
        if (!(answer.errors || []).length) doc = read.value;
      }
    } else {
      let answer;
      try {
        answer = await request('POST', 'convert/from-clab', {text, document: this.base || undefined});
      } catch (err) {
        if (seq !== this.seq) return;
        if (!(err instanceof ApiError && err.status === 400 && err.errors.length)) { this.failed(err); return; }
        answer = {errors: err.errors, warnings: err.warnings};
      }
      if (seq !== this.seq) return;
      const starts = lineStarts(text);
      const place = (p, level) => {
        const line = p.line > 0 && p.line <= starts.length ? p.line : null;
        const end = line ? (line < starts.length ? starts[line] - 1 : text.length) : null;
        return {level, path: p.path, message: p.message, line, column: line ? 1 : null, start: line ? starts[line - 1] : null, end};
      };
      problems = (answer.errors || []).map((p) => place(p, 'error')).concat((answer.warnings || []).map((p) => place(p, 'warning')));
      if (!(answer.errors || []).length && answer.document) doc = answer.document;
    }
    if (seq !== this.seq || this.area.value !== text) return;
    this.problems = problems;
    this.parsed = doc ? {document: doc, text} : null;
    if (!doc) { this.showProblems('invalid'); this.paintGutter(true); return; }
    if (this.conflict && !force) { this.showProblems('held'); this.showNotice(); this.paintGutter(true); return; }
    this.apply(doc, text);
  }

  failed(err) {
    this.problems = [];
    this.summary.dataset.level = 'error';
    this.summary.textContent = `Could not check the text: ${err.message}`;
  }

  // Commit the text's document to the canvas (one edit, one undo step); the text stays as typed.
  apply(doc, text) {
    if (this.hooks.readonly) { this.showProblems('readonly'); return; }
    this.conflict = false;
    if (sameValue(doc, this.ed.doc)) {
      this.base = this.ed.doc;
      this.synced = text;
      this.showProblems('same');
    } else {
      this.applying = true;
      try { this.hooks.apply(doc); } finally { this.applying = false; }
      this.base = doc;
      this.synced = text;
      this.appliedAt = Date.now();
      this.showProblems('applied');
    }
    this.showNotice();
    this.paintGutter(true);
    // The canvas placed a node the text gave no position: the text says where, once the typing pauses.
    if (this.ed.doc !== this.base) this.changed();
  }

  // --- the format ---

  setFormat(format) {
    if (format === this.format) return;
    if (this.dirty) {
      // Not lost without a word: the switch waits until the user says which.
      this.pendingFormat = format;
      this.showNotice();
      this.root.querySelector(`input[name=text-format][value=${this.format}]`).checked = true;
      return;
    }
    this.switchTo(format);
  }

  switchTo(format) {
    this.pendingFormat = null;
    this.format = format;
    this.root.querySelector(`input[name=text-format][value=${format}]`).checked = true;
    this.root.dataset.format = format;
    this.area.setAttribute('aria-label', `The topology as ${FORMATS[format]}`);
    this.lost = [];
    this.write({force: true});
  }

  // --- what the pane says ---

  // The notice over the text: the canvas changed under edits not applied, or a switch of format waits.
  showNotice() {
    const n = this.notice;
    n.replaceChildren();
    const button = (label, onclick) => el('button', {type: 'button', class: 'btn btn-small', onclick}, label);
    if (this.pendingFormat) {
      n.append(el('p', {}, `The text has edits that are not applied. Switching to ${FORMATS[this.pendingFormat]} drops them.`),
        el('div', {class: 'text-notice-actions'},
          button(`Drop them and switch`, () => this.switchTo(this.pendingFormat)),
          button('Keep editing', () => { this.pendingFormat = null; this.showNotice(); this.area.focus(); })));
    } else if (this.conflict) {
      const held = this.parsed && this.problems.every((p) => p.level !== 'error');
      n.append(el('p', {}, held
        ? 'The canvas changed while you edited the text: your text is not applied, so as not to undo that change.'
        : 'The canvas changed while you edited the text: the text is not rewritten, so your edits stay.'),
      el('div', {class: 'text-notice-actions'},
        button("Show the canvas's document", () => { this.conflict = false; this.write({force: true}); }),
        held ? button('Apply my text', () => this.check({force: true})) : null));
    }
    n.hidden = !n.childElementCount;
  }

  // The summary line and the list of problems; `state` says what happened last.
  showProblems(state) {
    this.state = state;
    const errors = this.problems.filter((p) => p.level === 'error');
    const warnings = this.problems.filter((p) => p.level === 'warning');
    let level = 'ok', text;
    const tail = warnings.length ? ` ${plural(warnings.length, 'warning')}.` : '';
    if (state === 'unwritable') {
      level = 'error';
      text = `The document has ${plural(this.unwritable.length, 'error')}: containerlab YAML is written from a valid document only. `
        + 'Fix them on the canvas or in the JSON.';
    } else if (state === 'invalid') {
      level = 'error';
      const syntax = errors.find((p) => p.syntax);
      text = syntax ? `Not valid JSON at line ${syntax.line}:${syntax.column}: not applied to the canvas.`
        : `${plural(errors.length, 'error')}${warnings.length ? `, ${plural(warnings.length, 'warning')}` : ''}: not applied to the canvas.`;
    } else if (state === 'held') {
      level = 'warning';
      text = 'No errors, but the canvas changed meanwhile: not applied.';
    } else if (state === 'applied') text = `No errors: applied to the canvas (Ctrl-Z undoes it).${tail}`;
    else if (state === 'same') text = `No errors; the canvas has this already.${tail}`;
    else if (state === 'back') text = 'No edits: the text is the canvas\'s document again.';
    else if (state === 'readonly') { level = 'warning'; text = `Read-only: ${this.hooks.owner}'s topology is not changed from here.`; }
    else {
      text = this.hooks.readonly ? `Read-only: ${this.hooks.owner}'s topology.` : 'The document as it is on the canvas. Edit it here: a pause applies it.';
      if (errors.length) {
        level = 'error';
        text = `The canvas's document: ${plural(errors.length, 'error')}${warnings.length ? `, ${plural(warnings.length, 'warning')}` : ''}. Edit it here: a pause applies it.`;
      } else if (warnings.length) text = `The canvas's document: no errors, ${plural(warnings.length, 'warning')}. Edit it here: a pause applies it.`;
    }
    this.summary.dataset.level = level;
    this.summary.textContent = text;
    const listed = state === 'unwritable' ? this.unwritable.map((p) => ({...p, level: 'error'})) : this.problems;
    this.list.replaceChildren(...listed.map((p) => this.problemItem(p)));
    this.list.hidden = !listed.length;
    this.notes.replaceChildren();
    if (this.format === 'clab' && this.lost.length) {
      this.notes.append(el('p', {class: 'text-notes-title'}, `What containerlab YAML does not carry (${this.lost.length}):`),
        el('ul', {}, this.lost.map((w) => el('li', {}, w.path ? el('code', {}, w.path) : null, w.path ? ': ' : '', w.message))));
    }
    this.notes.hidden = !this.notes.childElementCount;
  }

  problemItem(p) {
    const where = p.line ? `line ${p.line}${p.column && this.format === 'json' ? `:${p.column}` : ''}` : 'whole document';
    const body = [el('span', {class: 'text-problem-mark', 'aria-hidden': 'true'}, p.level === 'error' ? '✕' : '⚠'),
      el('span', {class: 'text-problem-line'}, where), p.path ? el('code', {class: 'text-problem-path'}, p.path) : null,
      el('span', {class: 'text-problem-message'}, p.message)];
    const label = `${p.level === 'error' ? 'Error' : 'Warning'}, ${where}${p.path ? `, ${p.path}` : ''}: ${p.message}`;
    if (p.start === null || p.start === undefined) {
      return el('li', {class: `text-problem ${p.level}`, dataset: {path: p.path}}, el('div', {class: 'text-problem-static'}, body));
    }
    return el('li', {class: `text-problem ${p.level}`, dataset: {path: p.path, line: String(p.line)}},
      el('button', {type: 'button', class: 'text-problem-go', 'aria-label': `${label} (go there)`, onclick: () => this.goTo(p)}, body));
  }

  // Put the caret on what a problem is about (its value selected), scrolled into the middle of the pane.
  goTo(p) {
    const area = this.area;
    area.focus({preventScroll: true});
    area.setSelectionRange(p.start, Math.max(p.start, p.end ?? p.start));
    const line = p.line || positionOf(lineStarts(area.value), p.start).line;
    area.scrollTop = Math.max(0, (line - 1) * this.lineHeight - area.clientHeight / 3);
    this.paintGutter();
  }

  // The line numbers beside the visible lines only (a document of 500 nodes has thousands), the lines with
  // an error or a warning marked.
  // Once a frame at most, however fast the keys come (`count`: the lines may have changed, count them again).
  paintGutter(count = false) {
    if (!this.isOpen) return;
    if (count || !this.lineCount) this.recount = true;
    if (this.painting) return;
    this.painting = true;
    requestAnimationFrame(() => {
      this.painting = false;
      if (this.recount) {
        this.recount = false;
        let n = 1;
        const text = this.area.value;
        for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) n += 1;
        this.lineCount = n;
        this.gutter.style.setProperty('--digits', String(Math.max(3, String(n).length)));
      }
      const lh = this.lineHeight;
      const top = this.area.scrollTop;
      const first = Math.floor(top / lh);
      const last = Math.min(this.lineCount, first + Math.ceil(this.area.clientHeight / lh) + 1);
      const marks = new Map();
      for (const p of this.problems) if (p.line && (p.level === 'error' || !marks.has(p.line))) marks.set(p.line, p.level);
      const rows = [];
      for (let k = first + 1; k <= last; k++) rows.push(el('div', {class: marks.has(k) ? `text-ln ${marks.get(k)}` : 'text-ln'}, String(k)));
      this.lines.replaceChildren(...rows);
      this.lines.style.transform = `translateY(${first * lh - top}px)`;
    });
  }
}
