// The editor page: one document, the single source of truth, snapshotted for undo/redo.
// The canvas and the panel ask for changes through commit(); the API saves and validates;
// the websocket paints the lab's state on the nodes; the dock below holds the events and the
// nodes' consoles. The node kinds, the server's patterns and limits and the consoles' pacing
// come in the page's config (topology/pages/views.py); nothing here names a kind.
// An assignment copy gets the instructions panel (instructions-panel.js) beside the canvas and the dock;
// a supervisor (config.readonly) sees the page read-only: no change is ever committed or saved.
import {api, ApiError} from './api.js';
import {el, paintKind} from './dom.js';
import * as model from './document-model.js';
import {Canvas, nodeId, linkId} from './canvas.js';
import {CanvasTip, tipLines} from './canvas-tip.js';
import {Panel} from './panel.js';
import {Live} from './live.js';
import {Dock} from './dock.js';
import {problemLine} from './problems.js';
import {LinkLive} from './link-live.js';
import {PingMatrix} from './ping-matrix.js';
import {ApplyChanges} from './apply-changes.js';
import {FrrTools} from './frr-panel.js';
import {ComputeRoutes, assignedSentence} from './compute-routes.js';
import {HostSupport} from './host-support.js';
import {confirmDestroy} from './destroy-confirm.js';
import {StaleGuard} from './stale-banner.js';
import {TextView} from './text-view.js';
import {exportMenu} from './export-menu.js';
import {HostReach} from './host-reach.js';

const config = JSON.parse(document.getElementById('editor-config').textContent);
model.setKinds(config.kinds, config.defaultKind);
const $ = (id) => document.getElementById(id);
const HISTORY = 200;
// Lab states with containers to use (models.LIVE_STATES): a degraded lab's other nodes still run.
const LIVE = ['running', 'degraded'];
const LOST = ['exited', 'gone']; // a node stopped behind the engine's back

const ed = {
  config,
  doc: null,
  saved: '',
  undo: [], redo: [], lastKey: null, lastTime: 0,
  problems: [], // [{level, path, message}]
  states: {}, // node name -> {state, reason}
  lab: {state: 'stopped', busy: false, reason: '', operation: ''},
  images: null,
  clipboard: null,
  validateSeq: 0,
  saving: false,

  commit(doc, {key = null, source = null, renamed = null} = {}) {
    if (config.readonly) { status(`Read-only: ${config.owner}'s topology cannot be changed here.`, 'warning'); render(); return; }
    const now = Date.now();
    const merge = key && key === this.lastKey && now - this.lastTime < 2000;
    if (!merge) { this.undo.push(JSON.stringify(this.doc)); if (this.undo.length > HISTORY) this.undo.shift(); }
    this.redo = [];
    this.lastKey = key; this.lastTime = now;
    this.doc = doc;
    render({source, renamed});
  },

  problemsFor(kind, index) {
    return this.problems.filter((p) => { const t = model.parsePath(p.path); return t.kind === kind && t.index === index; });
  },

  // Why a node has no console now ('' when it can have one).
  terminalWhy(name) {
    if (this.gone) return this.gone; // signed out, or the topology was deleted
    const lab = this.lab;
    if (!LIVE.includes(lab.state) || lab.busy) return lab.busy ? `Wait: the lab is ${lab.state}.` : 'The lab is not running: deploy it first.';
    const st = this.states[name];
    if (!st) return `${name} is not in the running lab (deploy again after adding it).`;
    if (st.state !== 'running') return `${name} is ${st.state}, not running.`;
    return '';
  },

  openTerminal(name, kind = 'console') {
    const why = this.terminalWhy(name);
    if (why) { status(why, 'warning'); return; }
    if (config.readonly && kind === 'console') {
      // A supervisor never gets a shell of their own in the student's node: they watch the student's console.
      const url = `/topologies/${config.id}/nodes/${encodeURIComponent(name)}/console/?mode=watch`;
      if (!window.open(url, `topolab-${config.id}-watch-${name}`, 'popup,width=860,height=540')) status('The browser blocked the new window: allow pop-ups for this site.', 'warning');
      return;
    }
    dock.open(name, kind);
  },

  deleteSelection() {
    if (config.readonly) { this.commit(this.doc); return; } // says why nothing happens
    const sel = canvas.selection();
    if (!sel.nodes.length && !sel.links.length) return;
    this.commit(model.removeElements(this.doc, sel));
    status(`Deleted ${describe(sel)}.`);
  },
};

function describe({nodes, links}) {
  const parts = [];
  if (nodes.length) parts.push(`${nodes.length} node${nodes.length > 1 ? 's' : ''}`);
  if (links.length) parts.push(`${links.length} link${links.length > 1 ? 's' : ''}`);
  return parts.join(' and ');
}

function status(text, level = '') {
  const s = $('dock-status');
  s.textContent = text;
  s.dataset.level = level;
}

// --- canvas and panel ---------------------------------------------------------------------

// The canvas's tooltip (canvas-tip.js): a link in full, a node's failure, their problems; refreshed as they change.
const tip = new CanvasTip($('tooltip'), (ele) => tipLines(ed, ele, problemLine, LOST));
const canvas = new Canvas($('cy'), {
  onAddLink(a, b) {
    if (config.readonly) return;
    const {doc, index} = model.addLink(ed.doc, a, b);
    if (index < 0) return;
    ed.commit(doc);
    canvas.select({links: [index]});
    const l = doc.links[index];
    status(`Linked ${a} ${l.endpoints[0].interface} to ${b} ${l.endpoints[1].interface}.`);
  },
  onMove(positions) { ed.commit(model.moveNodes(ed.doc, positions)); },
  onSelect(sel) { panel.show(sel); updateButtons(); },
  onDrop(kind, pos) { addNode(kind, pos); },
  onTooltip(ele, evt) { tip.show(ele, evt); },
}, {kinds: config.kinds, defaultKind: config.defaultKind});
const panel = new Panel($('panel'), ed);
// What this host can deploy (host-support.js): the palette's badges, the image field's warning, Deploy's reason.
ed.support = new HostSupport();
// Changed or deleted elsewhere (stale-banner.js): a banner over the canvas at once; saves carry a precondition.
ed.stale = new StaleGuard(ed, $('cy').parentElement, {save, status,
  reload: (t) => { if (config.readonly) { ed.doc = t.document; render(); } else ed.commit(t.document); ed.saved = JSON.stringify(ed.doc); markDirty(); }});
// A running lab's links, changed live (link-live.js): drawn again without a new check by the server, whose
// "No errors." would hide what the status line says about the change.
ed.links = new LinkLive(ed, {render: () => { canvas.sync(ed.doc, {states: ed.states}); panel.render(); markDirty(); }, status});
const pings = new PingMatrix(ed, {run: () => api.pingAll(config.id), setDisabled}); // "Ping all" (ping-matrix.js)
// "Apply changes…" on a running lab (apply-changes.js): after each save, what the lab does not run yet; updateButtons() drives it.
const applier = new ApplyChanges(ed, {run: (doc, dryRun) => api.apply(config.id, doc, dryRun), save, setProblems: answerProblems, status, setDisabled,
  setLab, showEvents: () => dock.select('events', false)});
// FRR's tools (frr-panel.js): an frr node's starting config, check and vtysh in the panel; "Save configs…" on a running lab,
// which writes into the saved document: the editor takes the server's afterwards.
ed.frr = new FrrTools(ed, {topology: config.id, dirty: () => markDirty(), save, status, setDisabled,
  reload: async () => { const t = await api.get(config.id); ed.stale.adopt(t); ed.commit(t.document); ed.saved = JSON.stringify(ed.doc); markDirty(); }});
const dock = new Dock($('dock'), $('editor'), {
  topology: config.id,
  console: config.console,
  keepCanvas,
  why: (name) => ed.terminalWhy(name),
  lab: () => ed.lab, // a console waiting for its node to run again stops waiting when the lab goes away
  status,
});
// A double-click on a running node opens its console.
canvas.cy.on('dbltap', 'node.doc', (e) => ed.openTerminal(e.target.data('name'), 'console'));

function render({source = null, renamed = null} = {}) {
  const unplaced = canvas.sync(ed.doc, {states: ed.states, renamed});
  tip.refresh();
  if (unplaced.length) {
    canvas.layout(unplaced, (pos) => { ed.doc = model.moveNodes(ed.doc, pos); canvas.sync(ed.doc, {states: ed.states}); ed.text.changed(); });
  }
  if (source !== 'panel') panel.render();
  else if (renamed) { /* keep the panel (and its focus) on the renamed node */ }
  markDirty();
  $('canvas-empty').hidden = (ed.doc.nodes || []).length > 0;
  $('canvas-link-hint').hidden = config.readonly || (ed.doc.nodes || []).length < 2 || (ed.doc.links || []).length > 0;
  $('doc-name').textContent = ed.doc.name;
  scheduleValidate();
  updateButtons();
}

function markDirty() {
  ed.text.changed(); // the text view (text-view.js) follows the document when it is open
  const dirty = JSON.stringify(ed.doc) !== ed.saved;
  $('unsaved').hidden = !dirty;
  document.title = `${dirty ? '● ' : ''}${ed.doc.name} · Topolab`;
  return dirty;
}

function addNode(kind, position) {
  if (config.readonly) return;
  const pos = position || canvas.freeSpot();
  const {doc, name} = model.addNode(ed.doc, {kind, position: pos});
  ed.commit(doc);
  canvas.select({nodes: [name]});
  status(`Added ${kind} ${name}.`);
}

// --- validation --------------------------------------------------------------------------

let validateTimer = null;
function scheduleValidate(delay = 500) {
  clearTimeout(validateTimer);
  validateTimer = setTimeout(validate, delay);
}

// explicit: the Validate button's check, whose answer says what was checked ("Checked 6 nodes and 7 links: no errors.").
async function validate({explicit = false} = {}) {
  const seq = ++ed.validateSeq;
  const doc = ed.doc;
  try {
    const result = await api.validate(doc);
    if (seq !== ed.validateSeq) return;
    setProblems(result.errors || [], result.warnings || []);
    if (explicit) checkedSentence(doc, result.errors || [], result.warnings || []);
  } catch (e) {
    if (seq !== ed.validateSeq) return;
    if (e instanceof ApiError && e.status === 400 && e.errors.length) {
      setProblems(e.errors, e.warnings);
      if (explicit) checkedSentence(doc, e.errors, e.warnings);
    } else status(`Could not check the topology: ${e.message}`, 'error');
  }
}

function checkedSentence(doc, errors, warnings) {
  const count = (n, word) => `${n} ${word}${n === 1 ? '' : 's'}`;
  const what = `Checked ${count((doc.nodes || []).length, 'node')} and ${count((doc.links || []).length, 'link')}`;
  const first = ed.problems.length ? ` ${problemLine(ed.doc, ed.problems[0]).slice(2)}` : '';
  if (errors.length) status(`${what}: ${count(errors.length, 'error')}${warnings.length ? `, ${count(warnings.length, 'warning')}` : ''}.${first}`, 'error');
  else if (warnings.length) status(`${what}: no errors, ${count(warnings.length, 'warning')}.${first}`, 'warning');
  else if (ed.gone) status(`${what}: no errors. ${ed.gone}`, 'error');
  else status(`${what}: no errors.`, 'ok');
}

// Problems from an answer about the document as it stands (an apply or routes refusal) outrank a check
// of the same document still pending or in flight: that check would wipe the outline a moment later.
function answerProblems(errors, warnings) {
  clearTimeout(validateTimer);
  ed.validateSeq++;
  setProblems(errors, warnings);
}

function setProblems(errors, warnings) {
  ed.problems = errors.map((p) => ({...p, level: 'error'})).concat(warnings.map((p) => ({...p, level: 'warning'})));
  const marks = new Map();
  for (const p of ed.problems) {
    const t = model.parsePath(p.path);
    const node = t.kind === 'node' && ed.doc.nodes[t.index];
    const id = t.kind === 'node' ? (node && nodeId(node.name)) : t.kind === 'link' ? linkId(t.index) : null;
    if (!id) continue;
    const prev = marks.get(id);
    if (!prev || p.level === 'error') marks.set(id, {level: p.level});
  }
  canvas.markProblems(marks);
  tip.refresh();
  const nErr = errors.length, nWarn = warnings.length;
  if (nErr) status(`${nErr} error${nErr > 1 ? 's' : ''}${nWarn ? `, ${nWarn} warning${nWarn > 1 ? 's' : ''}` : ''}. ${problemLine(ed.doc, ed.problems[0]).slice(2)}`, 'error');
  else if (nWarn) status(`No errors; ${nWarn} warning${nWarn > 1 ? 's' : ''}. ${problemLine(ed.doc, ed.problems[0]).slice(2)}`, 'warning');
  else if (ed.lab.state === 'degraded') status(`No errors. ${degradedNews()}`, 'error'); // the lab's news stays in sight
  else if (ed.gone) status(`No errors. ${ed.gone}`, 'error'); // deleted or signed out: that stays in sight too
  // Read-only, the check's answer (the page's first one may come after an edit was refused) keeps saying so.
  else status(config.readonly ? `No errors. Read-only: ${config.owner}'s topology.` : 'No errors.', 'ok');
  if (!document.activeElement || !$('panel').contains(document.activeElement)) panel.render();
  else panel.markFields(); // the field being typed in keeps its focus; the outlines follow the new problems
  updateButtons();
  ed.text.canvasChecked(); // the text view puts them on their lines
}

// --- save, deploy, destroy -----------------------------------------------------------------

async function save() {
  if (ed.saving || config.readonly) return false;
  if (document.activeElement && $('panel').contains(document.activeElement)) document.activeElement.blur();
  ed.saving = true;
  $('btn-save').disabled = true;
  status('Saving…');
  const doc = ed.doc;
  try {
    const saved = await ed.stale.put(doc); // refused (409) over a version saved elsewhere since: stale-banner.js
    ed.saved = JSON.stringify(doc);
    if (saved && saved.warnings) setProblems([], saved.warnings);
    markDirty();
    status('Saved.', 'ok');
    return true;
  } catch (e) {
    if (e.errors.length) setProblems(e.errors, e.warnings);
    status(ed.stale.refusal(e) || `Not saved: ${e.message}`, 'error');
    return false;
  } finally {
    ed.saving = false;
    updateButtons();
  }
}

async function deploy() {
  if (config.readonly) return;
  if (markDirty() && !(await save())) return;
  try {
    await api.deploy(config.id);
    setLab({...ed.lab, state: 'deploying', busy: true});
    dock.select('events', false);
    status('Deploying…');
  } catch (e) {
    if (e.errors.length) setProblems(e.errors, e.warnings);
    status(`Not deployed: ${e.message}`, 'error');
  }
}

async function destroy() {
  if (config.readonly) return;
  // Asked first, in the page (destroy-confirm.js): which lab, how many of its nodes run.
  const nodes = Object.values(ed.states);
  if (!(await confirmDestroy({name: ed.doc.name, nodes: nodes.length, running: nodes.filter((n) => n.state === 'running').length}))) {
    status('Not destroyed: nothing changed.');
    return;
  }
  try {
    await api.destroy(config.id);
    setLab({...ed.lab, state: 'destroying', busy: true});
    dock.reveal(); // a console in front stays there, to say that it closed
    status('Destroying…');
  } catch (e) {
    status(`Not destroyed: ${e.message}`, 'error');
  }
}

function setDisabled(button, wrap, reason) {
  button.disabled = !!reason;
  wrap.title = reason || '';
  button.setAttribute('aria-disabled', reason ? 'true' : 'false');
  if (reason) button.setAttribute('aria-description', reason); else button.removeAttribute('aria-description');
}

function updateButtons() {
  const lab = ed.lab;
  const errors = ed.problems.filter((p) => p.level === 'error').length;
  let deployWhy = '';
  if (lab.busy || lab.state === 'deploying' || lab.state === 'destroying') deployWhy = `Wait: the lab is ${lab.state}.`;
  else if (lab.state === 'running') deployWhy = 'The lab is running: destroy it first.';
  else if (lab.state === 'degraded') deployWhy = 'The lab is degraded (a node stopped): destroy it first.';
  else if (!(ed.doc.nodes || []).length) deployWhy = 'Add a node first.';
  else if (errors) deployWhy = `Fix ${errors} error${errors > 1 ? 's' : ''} first (outlined in red).`;
  else deployWhy = ed.support.deployWhy(ed.doc); // nodes whose image this host has not built
  setDisabled($('btn-deploy'), $('deploy-wrap'), deployWhy);
  if (!deployWhy) $('deploy-wrap').title = ed.support.deployCaveat(ed.doc);
  let destroyWhy = '';
  if (lab.state === 'stopped' && !lab.busy) destroyWhy = 'Nothing is running.';
  else if (lab.busy && lab.state === 'destroying') destroyWhy = 'Already destroying.';
  setDisabled($('btn-destroy'), $('destroy-wrap'), destroyWhy);
  pings.update();
  applier.update();
  ed.frr.update();
  $('btn-save').disabled = ed.saving;
  $('btn-undo').disabled = !ed.undo.length;
  $('btn-redo').disabled = !ed.redo.length;
  const sel = canvas.selection();
  $('btn-delete').disabled = !sel.nodes.length && !sel.links.length;
}

// --- the lab, live ------------------------------------------------------------------------

const seenEvents = new Set();
const hostReach = new HostReach(config.id, $('host-unreachable')); // host-reach.js: "host unreachable"

function setLab(lab) {
  const previous = ed.lab.state;
  // A deploy or destroy begins (busy): a new log. A node's or a link's operation tells only of its end (not
  // busy), after its steps came: they stay, under the log before them.
  if (lab.operation && lab.operation !== ed.lab.operation && lab.busy) { clearLog(); }
  for (const k of ['state', 'reason', 'busy', 'operation']) if (lab[k] !== undefined) ed.lab[k] = lab[k];
  $('progress').classList.toggle('failed', ed.lab.state === 'failed');
  const badge = $('lab-state');
  badge.dataset.state = ed.lab.state;
  badge.textContent = ed.lab.state === 'stopped' ? 'not running' : ed.lab.state;
  badge.title = ed.lab.reason || '';
  if (ed.lab.reason && ed.lab.state === 'failed') status(`Failed: ${ed.lab.reason}`, 'error');
  else if (ed.lab.state === 'degraded') status(degradedNews(), 'error');
  else if (!ed.lab.busy && lab.state && previous !== `${ed.lab.state}`) {
    if (ed.lab.state === 'running') status('The lab is running.', 'ok');
    else if (ed.lab.state === 'stopped' && previous === 'destroying') status('The lab is stopped.', 'ok');
  }
  if (!ed.lab.busy && (ed.lab.state === 'running' || ed.lab.state === 'stopped') && !$('progress').hidden) {
    $('progress-bar').style.width = '100%';
  }
  updateButtons();
  repaintStates(); // the panel's Console and Logs buttons, the dock's Reopen buttons
  if (instructions) instructions.setLab(ed.lab.state);
  hostReach.seen(lab);
}

// What a degraded lab's status line says: which nodes it lost, and what to do.
function degradedNews() {
  return `Degraded: ${ed.lab.reason || 'a node stopped'}. Destroy the lab to clean it up.`;
}

function setNode(name, state, reason) {
  ed.states[name] = {state, reason: reason || ''};
}

function clearLog() {
  $('dock-body').replaceChildren();
  seenEvents.clear();
  $('progress-bar').style.width = '0%';
  $('progress-text').textContent = '';
  $('progress').hidden = true;
}

function addEvents(events) {
  const body = $('dock-body');
  const atBottom = body.scrollTop + body.clientHeight >= body.scrollHeight - 4;
  for (const e of events) {
    if (!e || seenEvents.has(e.id)) continue;
    seenEvents.add(e.id);
    const time = e.time ? new Date(e.time).toLocaleTimeString() : '';
    body.append(el('li', {class: `ev ev-${e.status}`},
      el('time', {}, time), el('span', {class: 'ev-step'}, e.step),
      // A node lost outside any step (the watcher's "c2 gone") has a node and no index: its step says it all.
      el('span', {class: 'ev-status'}, e.status === 'ok' ? 'ok' : e.status === 'failed' ? (e.node && e.index == null ? '✕' : '✕ failed') : e.status === 'started' ? '…' : ''),
      e.elapsed_ms != null ? el('span', {class: 'muted'}, `${e.elapsed_ms} ms`) : null,
      e.message ? el('span', {class: 'ev-msg'}, e.message) : null));
    if (e.index != null && e.total) {
      $('progress').hidden = false;
      $('progress-bar').style.width = `${Math.round((100 * e.index) / e.total)}%`;
      $('progress-text').textContent = `${e.index}/${e.total}`;
    }
  }
  while (body.children.length > 1000) body.firstChild.remove();
  if (atBottom) body.scrollTop = body.scrollHeight;
}

// Run a change of the dock's height without moving the drawing.
function keepCanvas(change) {
  const before = canvas.cy.height();
  const wasAllVisible = canvas.allVisible();
  change();
  canvas.cy.resize();
  const dy = (canvas.cy.height() - before) / 2;
  if (!dy) return;
  // Keep what was in the middle of the canvas in the middle: no jump when the dock opens.
  canvas.cy.panBy({x: 0, y: dy});
  // A drawing that was whole stays whole (zooming out a little if the dock took its room).
  if (wasAllVisible && !canvas.allVisible()) canvas.fit();
}

let paintQueued = false;
function repaintStates() {
  if (paintQueued) return;
  paintQueued = true;
  requestAnimationFrame(() => {
    paintQueued = false;
    if (!ed.doc) return;
    canvas.sync(ed.doc, {states: ed.states});
    if ((panel.ref.type === 'node' || panel.ref.type === 'link') && !$('panel').contains(document.activeElement)) panel.render();
    dock.refresh();
  });
}

// Consoles open before a reload come back once, when the first snapshot says the lab runs.
let restored = false;
function restoreConsoles() {
  if (restored || !LIVE.includes(ed.lab.state) || ed.lab.busy) return;
  restored = true;
  dock.restore();
}

function startLive() {
  new Live(config.id, {
    onSnapshot(lab) {
      ed.states = {};
      for (const n of lab.nodes || []) setNode(n.name, n.state, n.reason);
      ed.lab.operation = lab.operation;
      setLab(lab);
      clearLog();
      addEvents(lab.events || []);
      repaintStates();
      restoreConsoles();
    },
    onLab(msg) { setLab(msg); },
    onNode(msg) { setNode(msg.name, msg.state, msg.reason); repaintStates(); dock.nodeChanged(msg.name, msg.state); },
    onEvents(list) { addEvents(list); },
    onLink(msg) { ed.links.received(msg); },
    onTopology(msg) { ed.stale.received(msg); }, // saved elsewhere: stale-banner.js says so if it is news
    onConnection(ok) { $('lab-state').classList.toggle('offline', !ok); if (!ok) status('Live updates lost; reconnecting…', 'warning'); },
    // Signed out (in any tab) or the topology was deleted: no more live updates, and why.
    onGone(msg) { ed.gone = msg.message; $('lab-state').classList.add('offline'); status(msg.message, 'error'); ed.stale.gone(msg); repaintStates(); },
  });
}

// --- keyboard and buttons ---------------------------------------------------------------------

// Move one snapshot from `from` to the document, keeping the current one on `to`.
function travel(from, to, word) {
  if (!from.length) return;
  to.push(JSON.stringify(ed.doc));
  ed.doc = JSON.parse(from.pop());
  ed.lastKey = null;
  render();
  status(word);
}

function undo() { travel(ed.undo, ed.redo, 'Undone.'); }

function redo() { travel(ed.redo, ed.undo, 'Redone.'); }

function copy() {
  const sel = canvas.selection();
  if (!sel.nodes.length) return;
  ed.clipboard = model.copyFragment(ed.doc, sel.nodes);
  status(`Copied ${describe({nodes: sel.nodes, links: ed.clipboard.links.map((_, i) => i)})}.`);
}

function paste() {
  if (!ed.clipboard || config.readonly) return;
  const {doc, names} = model.pasteFragment(ed.doc, ed.clipboard);
  ed.commit(doc);
  canvas.select({nodes: names});
  ed.clipboard = model.copyFragment(doc, names); // the next paste goes further
  status(`Pasted ${names.join(', ')}.`);
}

function nudge(dx, dy) {
  const positions = {};
  canvas.cy.nodes('.doc:selected').forEach((n) => { const p = n.position(); positions[n.data('name')] = {x: p.x + dx, y: p.y + dy}; });
  if (Object.keys(positions).length) ed.commit(model.moveNodes(ed.doc, positions), {key: 'nudge'});
}

// Layout (the canvas tools' button, A): the whole drawing again, in the shape its graph has (layout.js); one undoable edit.
function relayout() {
  if (config.readonly || !(ed.doc.nodes || []).length) return;
  canvas.layout(null, (pos, shape) => {
    ed.commit(model.moveNodes(ed.doc, pos));
    canvas.fit();
    status(`${layoutSentence(shape, ed.doc.nodes.length)} (Ctrl-Z undoes it).`, 'ok');
  });
}

function layoutSentence(shape, count) {
  const as = {ring: 'as a ring', tree: 'as a tree', layers: 'in tiers', mesh: 'by their links', near: 'beside their neighbours'}[shape] || '';
  return `Laid out ${count} node${count === 1 ? '' : 's'} ${as}`.trim();
}

function setLinkMode(on) {
  canvas.setLinkMode(on);
  $('btn-link-mode').setAttribute('aria-pressed', String(on));
  $('btn-link-mode').classList.toggle('active', on);
  status(on ? 'Link mode: drag from one node to another. L or Esc leaves it.' : '');
}

function typing(target) {
  return target && (target.tagName === 'INPUT' || target.tagName === 'TEXTAREA' || target.tagName === 'SELECT' || target.isContentEditable);
}

document.addEventListener('keydown', (e) => {
  // In a console every key is the shell's (Ctrl-S, Ctrl-C, Esc...), as in any terminal.
  if (e.target instanceof Element && e.target.closest('.xterm')) return;
  const mod = e.ctrlKey || e.metaKey;
  const key = e.key.toLowerCase();
  if (mod && key === 's') { e.preventDefault(); save(); return; }
  if (typing(e.target) || document.querySelector('dialog[open]')) return;
  if (mod && key === 'z') { e.preventDefault(); if (e.shiftKey) redo(); else undo(); return; }
  if (mod && key === 'y') { e.preventDefault(); redo(); return; }
  if (mod && key === 'c') { copy(); return; }
  if (mod && key === 'v') { e.preventDefault(); paste(); return; }
  if (mod && key === 'a') { e.preventDefault(); canvas.cy.elements('.doc').select(); return; }
  if (mod || e.altKey) return;
  if (e.key === 'Delete' || e.key === 'Backspace') { e.preventDefault(); ed.deleteSelection(); return; }
  if (e.key === 'Escape') { canvas.cy.elements(':selected').unselect(); if ($('btn-link-mode').getAttribute('aria-pressed') === 'true') setLinkMode(false); return; }
  if (e.key === '?') { $('help-dialog').showModal(); return; }
  if (key === 'l') { setLinkMode($('btn-link-mode').getAttribute('aria-pressed') !== 'true'); return; }
  if (key === 'f') { canvas.fit(); return; }
  if (key === 't') { ed.text.toggle(); return; }
  if (key === 'a') { relayout(); return; }
  if (e.key === '+' || e.key === '=') { canvas.zoomBy(1.2); return; }
  if (e.key === '-') { canvas.zoomBy(1 / 1.2); return; }
  const step = e.shiftKey ? 48 : 8;
  const arrows = {ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step]};
  if (arrows[e.key]) { e.preventDefault(); nudge(...arrows[e.key]); }
});

window.addEventListener('beforeunload', (e) => { if (ed.doc && markDirty()) { e.preventDefault(); e.returnValue = ''; } });

$('btn-save').addEventListener('click', save);
$('btn-validate').addEventListener('click', () => { status('Checking…'); clearTimeout(validateTimer); validate({explicit: true}); });
$('btn-deploy').addEventListener('click', deploy);
$('btn-destroy').addEventListener('click', destroy);
$('btn-undo').addEventListener('click', undo);
$('btn-redo').addEventListener('click', redo);
$('btn-help').addEventListener('click', () => $('help-dialog').showModal());
// Export ▾ (export-menu.js): the saved topology; the list says so when this page holds unsaved changes.
$('export-slot').replaceWith(exportMenu(config.id, {unsaved: () => !!ed.doc && JSON.stringify(ed.doc) !== ed.saved}));
$('btn-delete').addEventListener('click', () => ed.deleteSelection());
$('btn-link-mode').addEventListener('click', () => setLinkMode($('btn-link-mode').getAttribute('aria-pressed') !== 'true'));
$('zoom-in').addEventListener('click', () => canvas.zoomBy(1.2));
$('zoom-out').addEventListener('click', () => canvas.zoomBy(1 / 1.2));
$('zoom-fit').addEventListener('click', () => canvas.fit());
$('layout').addEventListener('click', relayout);
$('toggle-labels').addEventListener('change', (e) => canvas.setLabels(e.target.checked));
// Assign addresses (IPv4, IPv6 or both, from the pools under it) and Compute routes… (compute-routes.js): what each did, in the status line.
$('btn-assign').addEventListener('click', () => {
  const pools = Object.fromEntries(['p2p', 'lan', 'p2p6', 'lan6'].map((k) => [k, $(`pool-${k}`).value.trim()]));
  const result = model.assignAddresses(ed.doc, pools, $('pool-families').value.split(',').map(Number));
  const {doc, filled, problems} = result;
  $('pool-error').textContent = problems.join('; ');
  if (problems.length && !filled) { $('pool-error').closest('details').open = true; status(`Addresses not assigned: ${problems.join('; ')}`, 'error'); return; }
  if (!filled) { status(`Every link already has addresses and every host a default route: nothing to fill${result.leftAlone ? ` (${result.leftAlone} interfaces left alone)` : ''}.`); return; }
  ed.commit(doc);
  status(`${assignedSentence(result).slice(0, -1)}${problems.length ? `; ${problems.join('; ')}` : ''}.`, problems.length ? 'warning' : 'ok');
});
ed.routes = new ComputeRoutes(ed, {compute: (doc) => api.computeRoutes(doc), status, setProblems: answerProblems});
$('btn-routes').addEventListener('click', () => ed.routes.open());
// The document as text beside the canvas (text-view.js, T): its edits come in as one commit per pause in typing.
ed.text = new TextView($('text-view'), ed, {apply: (doc) => ed.commit(doc, {source: 'text'}), undo, redo,
  readonly: config.readonly, owner: config.owner,
  onResize: (change) => { const before = canvas.cy.width(); change(); canvas.cy.resize(); canvas.cy.panBy({x: (canvas.cy.width() - before) / 2, y: 0}); }});
for (const b of document.querySelectorAll('.kind-btn')) {
  paintKind(b.querySelector('.kind-icon'), model.kindInfo(b.dataset.kind));
  b.addEventListener('click', () => addNode(b.dataset.kind));
  b.addEventListener('dragstart', (e) => { e.dataTransfer.setData('application/x-topolab-kind', b.dataset.kind); e.dataTransfer.effectAllowed = 'copy'; });
}
window.matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => canvas.restyle());

async function loadImages() {
  try {
    ed.images = await api.images();
    ed.support.setImages(ed.images);
    ed.support.paintPalette(document.querySelectorAll('.kind-btn'));
    panel.render();
    updateButtons();
    const list = $('images');
    list.replaceChildren(...ed.images.map((i) => el('li', {title: i.kinds ? `for ${i.kinds.join(', ')}` : ''},
      el('span', {class: `dot ${i.present ? (i.up_to_date === false ? 'dot-warn' : 'dot-ok') : 'dot-off'}`, 'aria-hidden': 'true'}),
      el('code', {}, i.name), el('span', {class: 'muted'}, i.present ? (i.up_to_date === false ? ' outdated' : '') : ' not built'))));
    if (!ed.images.length) list.replaceChildren(el('li', {class: 'muted'}, 'No images known.'));
    const dl = el('datalist', {id: 'image-list'}, ed.images.map((i) => el('option', {value: i.name})));
    document.body.append(dl);
  } catch (e) {
    $('images').replaceChildren(el('li', {class: 'muted'}, `Images unavailable: ${e.message}`));
  }
}

async function load() {
  try {
    let t = null;
    if (window.topolabInitial) {
      // Started by the page before the libraries loaded; any trouble: ask again through api.js.
      t = await window.topolabInitial.then((r) => (r.ok ? r.json() : null)).catch(() => null);
    }
    if (!t) t = await api.get(config.id);
    performance.mark('topolab:document');
    ed.doc = t.document;
    ed.stale.adopt(t); // the copy saves are checked against
  } catch (e) {
    status(`Could not open the topology: ${e.message}`, 'error');
    return;
  }
  const unplaced = canvas.sync(ed.doc, {});
  performance.mark('topolab:drawn');
  const finish = () => {
    ed.saved = JSON.stringify(ed.doc);
    render();
    canvas.fit();
    canvas.settleLabels(); // before the first frame, which then styles every element once
    window.topolab.readyAt = performance.now();
    document.body.dataset.ready = 'true';
  };
  if (unplaced.length) {
    // Opened without positions (imported, made by the API): laid out once (layout.js), and the positions saved
    // at once, as they are drawn: the page is not "unsaved" for them, and a reload shows the same picture.
    canvas.layout(unplaced, (pos, shape) => {
      ed.doc = model.moveNodes(ed.doc, pos);
      finish();
      // Once the first frames are drawn; not over an edit made meanwhile (that one's save takes the positions along).
      const idle = window.requestIdleCallback || ((f) => setTimeout(f, 100));
      idle(() => (JSON.stringify(ed.doc) === ed.saved ? save() : Promise.resolve(false)).then((ok) => {
        if (!ok || JSON.stringify(ed.doc) !== ed.saved) return; // not saved, or changed since: that change's check says more
        // The save's answer carried the document's problems (none, or warnings): the first check, still pending, has nothing to add.
        clearTimeout(validateTimer);
        ed.validateSeq++;
        if (!ed.problems.length) status(`${layoutSentence(shape, unplaced.length)}; the positions are saved.`, 'ok');
      }), {timeout: 1500});
    });
  } else finish();
  startLive();
  loadImages();
}

// --- read-only (a supervisor) and the assignment's instructions ------------------------------------------

function lockPanel() {
  // Every field and button of the properties panel, however often it is drawn again, except Console and Logs.
  const lock = () => $('panel').querySelectorAll('input, select, textarea, button').forEach((f) => {
    if (f.closest('.node-actions') || f.disabled) return;
    f.disabled = true;
    f.title = f.title || 'Read-only';
  });
  new MutationObserver(lock).observe($('panel'), {childList: true, subtree: true});
  lock();
}

if (config.readonly) {
  canvas.cy.autoungrabify(true);
  canvas.eh.disable();
  // The link handle that shows on hover would promise a link: it stays invisible (a Cytoscape style, not CSS).
  canvas.cy.on('add', 'node.eh-handle', (e) => e.target.style('display', 'none'));
  lockPanel();
}

let instructions = null;
if (config.assignment && $('assign-panel')) {
  import('./instructions-panel.js').then(({InstructionsPanel}) => {
    instructions = new InstructionsPanel($('assign-panel'), $('editor'), {
      topology: config.id,
      readonly: config.readonly,
      // The panel's column changes the canvas's width: keep the drawing where it was (as the dock does for height).
      onResize: (change) => { const before = canvas.cy.width(); change(); canvas.cy.resize(); canvas.cy.panBy({x: (canvas.cy.width() - before) / 2, y: 0}); },
    });
    instructions.setLab(ed.lab.state);
    instructions.load();
    window.topolab.instructions = instructions;
  }).catch((e) => status(`The instructions could not be shown: ${e.message}`, 'error'));
}

load();
window.topolab = {ed, canvas, dock, instructions}; // for the browser tests and the benchmark
