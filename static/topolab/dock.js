// The editor's dock, under the canvas: tabs "Events │ c1 ✕ │ r1 ✕ │ Logs · c2 ✕".
// Events (the operation's log, filled by editor.js) is always the first tab; each console or
// logs view is a tab of its own, or, with Tile on, all of them side by side. The dock can be
// collapsed to its header and resized by dragging its top edge; every change of its height
// goes through hooks.keepCanvas so the drawing does not jump.
//
// A console (or logs view) whose node stops says so ("r1 stopped", terminal.js) and waits; at the next
// news that the node runs (nodeChanged, from the lab's websocket: a restart's only news may be "running",
// the state it had before) it opens a new shell by itself ("r1 restarted"): the old one ended with the
// container's processes. While this page's own operation on the node runs (node-live.js tells of its
// beginning and end by a NODE_OPERATION event), its consoles wait for its end, whatever the websocket
// says meanwhile; the end of a console open through it may also come just after its answer (the relay
// tells it on its own): one that ends because its node stopped within RECENT_MS of the answer that the
// node runs starts again at once. (An operation from elsewhere, the API or the CLI, is known by its news
// alone: a console that ends after the news that its node runs again waits; its Reopen button works.)
// Consoles on other nodes are not touched. A lab destroyed meanwhile ends the wait: a new deploy is a new lab, not a restart.
//
// Open consoles are remembered per browser tab (sessionStorage, with their session tokens),
// so that a reload gets the same shells back while the host still keeps them (the relay's
// keepSeconds, handed to each terminal with the rest of the config's console numbers).
//
// Pop-out: a console (login shell or vtysh) or logs view moves into a window of its own (terminal-page.js),
// which resumes the shell with its token and replays its screen (terminal.js, replay=1). The window keeps
// this page told (postMessage, POPOUT messages: its token, its end, "Back to the dock"); when it closes,
// or its "Back to the dock" is clicked, the console comes back here as a tab, same shell, screen replayed.
// A console that ended in its window does not come back on its own. After a reload of this page the
// windows out are asked who they are (a BroadcastChannel), since window.open's handles are gone.
import {el, svgIcon} from './dom.js';
import {NODE_OPERATION} from './node-live.js';

// xterm.js is big (about 350 kB): fetched with the first console, not with the editor.
let terminalModule = null;
const loadTerminal = () => (terminalModule ||= import('./terminal.js'));

const COLLAPSED = 34; // the header alone (px)
const EVENTS_HEIGHT = 210; // the Events list alone, as before consoles
const MIN_HEIGHT = 120;
const RECENT_MS = 5000; // the end of a console open through this page's restart, this soon after, belongs to it
const POPOUT = 'topolab-terminal'; // the type of a pop-out window's messages (terminal-page.js)
const POPOUT_POLL_MS = 300; // how often windows out are checked for having closed

// The pop-out icon, drawn (the ⧉ character is missing from many fonts): a window, an arrow leaving it.
function popOutIcon() {
  return svgIcon(['path', {d: 'M9.5 2.5h4v4M13.5 2.5l-6 6M12 9.5v3.5H3V4h3.5'}]);
}

export class Dock {
  // root: the dock's <section>; hooks: {topology, console: the config's {keepSeconds, ackEvery, window},
  // keepCanvas(change), why(node) -> reason or '', status(text, level), lab() -> the lab's {state} (optional)}
  constructor(root, editorEl, hooks) {
    this.root = root;
    this.editorEl = editorEl;
    this.hooks = hooks;
    this.terms = new Map(); // key "console:c1" -> {node, kind, session, tab, pane, reopen, waiting}
    this.ops = new Set(); // nodes with an operation of this page's on them now
    document.addEventListener(NODE_OPERATION, (e) => this.nodeOperation(e.detail || {}));
    this.active = 'events';
    this.expanded = false;
    this.tiled = false;
    this.height = Number(localStorage.getItem('topolab.dockHeight')) || 0; // a height the user dragged to
    this.storeKey = `topolab.terms.${hooks.topology}`;
    this.popped = new Map(); // key -> {win, node, kind, token, ended}: terminals out in windows of their own
    this.pollTimer = null;
    window.addEventListener('message', (e) => this.fromPopOut(e));
    if ('BroadcastChannel' in window) {
      // Windows popped out before a reload of this page: they answer with a message, whose source is their handle.
      try { new BroadcastChannel(`${POPOUT}-${hooks.topology}`).postMessage({ask: 'who'}); } catch { /* none */ }
    }

    this.tabs = root.querySelector('#dock-tabs');
    this.eventsTab = root.querySelector('#dock-toggle');
    this.eventsPane = root.querySelector('#dock-body');
    this.termsEl = root.querySelector('#dock-terms');
    this.tileBtn = root.querySelector('#dock-tile');
    this.collapseBtn = root.querySelector('#dock-collapse');

    this.eventsTab.addEventListener('click', () => {
      if (this.expanded && this.active === 'events') this.collapse(); else this.select('events');
    });
    this.tileBtn.addEventListener('click', () => this.setTiled(!this.tiled));
    this.collapseBtn.addEventListener('click', () => (this.expanded ? this.collapse() : this.expand()));
    this.tabs.addEventListener('keydown', (e) => this.arrowKeys(e));
    this.splitter(root.querySelector('#dock-resize'));
    this.layout();
  }

  // --- terminals -------------------------------------------------------------------------

  // Open a node's console or logs, or bring the one already open to the front.
  async open(node, kind = 'console', {session = '', focus = true} = {}) {
    const key = `${kind}:${node}`;
    if (!this.terms.has(key)) await this.add(node, kind, session);
    const t = this.terms.get(key);
    if (!t) return;
    this.select(key, false);
    if (t.session.final && !session) t.session.reopen(); // asked for again after it ended: a new one, under the old output
    if (focus) t.session.focus();
  }

  async add(node, kind, token) {
    const {TerminalSession} = await loadTerminal();
    const key = `${kind}:${node}`;
    if (this.terms.has(key)) return; // a second click while the module loaded
    // 'vtysh': a console on an frr node running FRR's shell instead of the login shell, a tab of its own.
    const program = kind === 'vtysh' ? 'vtysh' : '';
    const title = kind === 'logs' ? `Logs · ${node}` : program ? `${node} · vtysh` : node;
    const dot = el('span', {class: 'tab-dot', 'aria-hidden': 'true'});
    const label = el('button', {class: 'tab-label', role: 'tab', 'aria-selected': 'false', tabindex: '-1',
      'aria-controls': `pane-${key.replace(':', '-')}`, onclick: () => this.select(key)}, dot, title);
    const tab = el('div', {class: 'dock-tab', 'data-key': key},
      label, el('button', {class: 'tab-close', title: `Close ${title}`, 'aria-label': `Close ${title}`, onclick: () => this.remove(key)}, '✕'));
    const stateText = el('span', {class: 'term-state', role: 'status'});
    const reopen = el('button', {class: 'btn btn-small', hidden: true, onclick: () => t.session.reopen()}, 'Reopen');
    const host = el('div', {class: 'term-host'});
    const pane = el('div', {class: 'term-pane', id: `pane-${key.replace(':', '-')}`, 'data-key': key, role: 'tabpanel', 'aria-label': title},
      el('div', {class: 'term-bar'},
        el('span', {class: 'term-title'}, kind === 'logs' ? `${node} · logs` : program ? `${node} · vtysh` : `${node} · console`), stateText,
        el('span', {class: 'term-actions'}, reopen,
          el('button', {class: 'btn btn-small btn-quiet', title: 'Open in its own window', 'aria-label': `Pop out ${title}`, onclick: () => this.popOut(key)}, popOutIcon()))),
      host);
    pane.addEventListener('focusin', () => { if (this.active !== key) this.select(key, false); });
    this.tabs.append(tab);
    this.termsEl.append(pane);
    // waiting: for its node to run again; lateUntil: its end, until then, is the one of the restart just done
    const t = {node, kind, tab, label, pane, reopen, stateText, session: null, waiting: false, lateUntil: 0};
    this.terms.set(key, t);
    // Show it before xterm measures its host: the shell starts at the right size.
    this.active = key;
    this.expanded = true;
    this.layout();
    t.session = new TerminalSession(host, {
      topology: this.hooks.topology, node, kind: program ? 'console' : kind, program, session: token, console: this.hooks.console,
      onState: (state, message) => this.stateChanged(key, state, message),
      onSession: () => this.remember(),
    });
    this.remember();
  }

  stateChanged(key, state, message) {
    const t = this.terms.get(key);
    if (!t) return;
    t.tab.dataset.state = state;
    // Ended because its node stopped: it waits for the node to run again (see the top of this file).
    t.waiting = state === 'closed' && !!(t.session && t.session.nodeStopped);
    const words = {connecting: 'connecting…', open: t.kind === 'logs' ? 'following' : 'connected', reconnecting: 'reconnecting…',
      closed: t.waiting ? `${t.node} stopped: reopens when it runs` : 'closed', error: 'could not open'};
    t.stateText.textContent = words[state] || state;
    t.stateText.title = message || '';
    t.stateText.dataset.state = state;
    this.refreshReopen(t);
    if (state === 'closed' || state === 'error') this.remember();
    if (t.waiting && !this.ops.has(t.node) && Date.now() < t.lateUntil) queueMicrotask(() => this.again(t));
    if (state !== 'open') t.lateUntil = 0;
  }

  // The lab's websocket says a node's state (editor.js, every "node" message): the consoles that wait for
  // this node open a new shell once it runs and may have one (after this page's operation on it, if one runs).
  nodeChanged(node, state) {
    if (state !== 'running' || this.ops.has(node)) return;
    for (const t of [...this.terms.values()]) if (t.node === node) this.again(t);
  }

  // This page's operation on a node begins ({node, phase: 'begin'}) or ends ({node, phase: 'end', state}).
  nodeOperation({node, phase, state}) {
    if (!node) return;
    if (phase === 'begin') { this.ops.add(node); return; }
    this.ops.delete(node);
    if (state !== 'running') return;
    // Its consoles still open may not have heard yet that their shells ended with the restart.
    for (const t of this.terms.values()) if (t.node === node && t.session && t.session.state === 'open') t.lateUntil = Date.now() + RECENT_MS;
    this.nodeChanged(node, state);
  }

  // A new shell for a console that waits for its node, if the node runs now.
  again(t) {
    if (!t.waiting || this.terms.get(`${t.kind}:${t.node}`) !== t || this.hooks.why(t.node)) return;
    t.waiting = false;
    t.session.restarted();
  }

  // The lab went away (destroyed, failed): no console waits for its node any more.
  labGone() {
    const lab = this.hooks.lab ? this.hooks.lab() : null;
    if (!lab || !['stopped', 'destroying', 'failed'].includes(lab.state)) return;
    for (const t of this.terms.values()) {
      if (!t.waiting) continue;
      t.waiting = false;
      t.stateText.textContent = 'closed';
    }
  }

  refreshReopen(t) {
    const ended = t.session && (t.session.state === 'closed' || t.session.state === 'error');
    t.reopen.hidden = !ended;
    const why = ended ? this.hooks.why(t.node) : '';
    t.reopen.disabled = !!why;
    t.reopen.title = why || (t.kind === 'logs' ? 'Follow the logs again' : t.kind === 'vtysh' ? 'Start vtysh again' : 'Start a new shell');
  }

  // The lab or a node changed state: Reopen buttons follow.
  refresh() {
    this.labGone();
    for (const t of this.terms.values()) this.refreshReopen(t);
  }

  remove(key, code = 1000) {
    const t = this.terms.get(key);
    if (!t) return;
    const keys = [...this.terms.keys()];
    const next = keys[keys.indexOf(key) + 1] || keys[keys.indexOf(key) - 1] || 'events';
    t.session.close(code);
    t.session.dispose();
    t.tab.remove();
    t.pane.remove();
    this.terms.delete(key);
    this.remember();
    if (this.active === key) this.select(next, false);
    else this.layout();
  }

  // Move a terminal into its own window. A console's shell is handed over (the window resumes
  // it with the token; this tab lets go with DETACH, which leaves the shell running).
  // The window replays the shell's screen (a fresh terminal resuming asks the relay for it) and gives it back
  // when it closes (see the top of this file).
  async popOut(key) {
    const {DETACH} = await loadTerminal();
    const t = this.terms.get(key);
    const q = new URLSearchParams();
    if (t.kind === 'vtysh') q.set('program', 'vtysh');
    const token = t.kind !== 'logs' && t.session.token && t.session.open ? t.session.token : '';
    if (token) q.set('session', token);
    const page = t.kind === 'logs' ? 'logs' : 'console';
    const url = `/topologies/${this.hooks.topology}/nodes/${encodeURIComponent(t.node)}/${page}/${String(q) ? `?${q}` : ''}`;
    const win = window.open(url, `topolab-${this.hooks.topology}-${t.kind}-${t.node}`, 'popup,width=860,height=540');
    if (!win) { this.hooks.status('The browser blocked the new window: allow pop-ups for this site.', 'warning'); return; }
    this.popped.set(key, {win, node: t.node, kind: t.kind, token, ended: false});
    this.watchPopped();
    this.remove(key, token ? DETACH : 1000);
  }

  // A pop-out window's news (terminal-page.js): its token, its end, or "Back to the dock".
  fromPopOut(e) {
    const m = e.data;
    if (e.origin !== location.origin || !m || m.type !== POPOUT || String(m.topology) !== String(this.hooks.topology)) return;
    if (!['console', 'vtysh', 'logs'].includes(m.kind) || typeof m.node !== 'string') return;
    const key = `${m.kind}:${m.node}`;
    const out = this.popped.get(key) || {node: m.node, kind: m.kind, token: '', ended: false};
    out.win = e.source || out.win;
    if (typeof m.token === 'string' && m.token) out.token = m.token;
    out.ended = m.event === 'ended';
    this.popped.set(key, out);
    if (m.event === 'back') this.comeBack(key, true);
    else this.watchPopped();
  }

  watchPopped() {
    if (this.pollTimer) return;
    this.pollTimer = setInterval(() => {
      for (const [key, out] of [...this.popped]) if (!out.win || out.win.closed) this.comeBack(key, false);
      if (!this.popped.size) { clearInterval(this.pollTimer); this.pollTimer = null; }
    }, POPOUT_POLL_MS);
  }

  // A terminal out in a window comes back as a tab: the same shell (its token; the screen replayed), or, asked
  // for with "Back to the dock" after it ended, a new one. One open here meanwhile stays as it is.
  comeBack(key, asked) {
    const out = this.popped.get(key);
    if (!out) return;
    this.popped.delete(key);
    if ((out.ended && !asked) || this.terms.has(key)) return;
    this.open(out.node, out.kind, {session: out.ended ? '' : out.token, focus: asked}).then(() => {
      this.hooks.status(`${out.kind === 'logs' ? `Logs · ${out.node}` : out.node} is back in the dock.`);
    });
  }

  // Consoles that were open before a reload, asked for again with their tokens (once, when the lab runs).
  async restore() {
    let saved = [];
    try { saved = JSON.parse(sessionStorage.getItem(this.storeKey) || '[]'); } catch { /* nothing saved */ }
    let last = null;
    for (const {node, kind, token} of saved) {
      if (this.hooks.why(node)) continue;
      await this.open(node, kind, {session: token || '', focus: false});
      last = `${kind}:${node}`;
    }
    if (last) this.select(last, false);
  }

  remember() {
    // Only live ones: an ended console stays on screen, but a reload need not bring it back.
    const live = [...this.terms.values()].filter((t) => !t.session || !t.session.final);
    const list = live.map((t) => ({node: t.node, kind: t.kind, token: (t.session && t.session.token) || ''}));
    try { sessionStorage.setItem(this.storeKey, JSON.stringify(list)); } catch { /* private mode: no memory */ }
  }

  // --- tabs, tiles and size -----------------------------------------------------------------

  select(key, focus = true) {
    this.active = key;
    this.expanded = true;
    this.layout();
    if (focus && key !== 'events') this.terms.get(key).session.focus();
  }

  setTiled(on) {
    this.tiled = on;
    this.tileBtn.setAttribute('aria-pressed', String(on));
    if (on && this.active === 'events' && this.terms.size) this.active = [...this.terms.keys()][0];
    this.expanded = true;
    this.layout();
  }

  expand() { if (!this.expanded) { this.expanded = true; this.layout(); } }

  collapse() { this.expanded = false; this.layout(); }

  // Show the Events tab if the dock is collapsed (deploy, destroy); an open console stays in front.
  reveal() { if (!this.expanded) this.select('events'); }

  wanted() {
    if (!this.expanded) return COLLAPSED;
    const max = this.editorEl.clientHeight - 140;
    const base = this.height || (this.terms.size ? Math.round(window.innerHeight * 0.4) : EVENTS_HEIGHT);
    return Math.max(MIN_HEIGHT, Math.min(base, max));
  }

  layout() {
    const events = this.active === 'events';
    this.hooks.keepCanvas(() => {
      this.editorEl.style.setProperty('--dock', `${this.wanted()}px`);
      this.editorEl.classList.toggle('dock-open', this.expanded);
      this.eventsPane.hidden = !this.expanded || !events;
      this.termsEl.hidden = !this.expanded || events;
      this.termsEl.classList.toggle('tiled', this.tiled);
      for (const [key, t] of this.terms) {
        t.pane.hidden = !this.tiled && key !== this.active;
        t.pane.classList.toggle('current', key === this.active);
      }
    });
    const tabs = [[this.eventsTab, 'events'], ...[...this.terms].map(([k, t]) => [t.label, k])];
    for (const [button, key] of tabs) {
      const on = key === this.active && this.expanded;
      button.setAttribute('aria-selected', String(on));
      button.tabIndex = key === this.active ? 0 : -1;
      button.closest('.dock-tab').classList.toggle('selected', on);
    }
    this.eventsTab.setAttribute('aria-expanded', String(this.expanded && events));
    this.tileBtn.hidden = this.terms.size < 2;
    this.collapseBtn.textContent = this.expanded ? '▾' : '▴';
    this.collapseBtn.title = this.expanded ? 'Hide the dock' : 'Show the dock';
    this.collapseBtn.setAttribute('aria-label', this.collapseBtn.title);
  }

  // Left and right move between tabs, as in any tab list.
  arrowKeys(e) {
    if (e.key !== 'ArrowLeft' && e.key !== 'ArrowRight') return;
    const keys = ['events', ...this.terms.keys()];
    const i = keys.indexOf(this.active) + (e.key === 'ArrowRight' ? 1 : -1);
    const key = keys[(i + keys.length) % keys.length];
    this.select(key, false);
    (key === 'events' ? this.eventsTab : this.terms.get(key).label).focus();
    e.preventDefault();
  }

  // The top edge of the dock: drag it (or use the arrow keys on it) to change the dock's height.
  splitter(handle) {
    const set = (h) => {
      this.height = Math.round(h);
      this.expanded = true;
      this.layout();
      localStorage.setItem('topolab.dockHeight', String(this.wanted()));
    };
    handle.addEventListener('pointerdown', (e) => {
      e.preventDefault();
      handle.setPointerCapture(e.pointerId);
      const bottom = this.editorEl.getBoundingClientRect().bottom;
      let frame = 0;
      const move = (m) => {
        cancelAnimationFrame(frame);
        frame = requestAnimationFrame(() => set(bottom - m.clientY));
      };
      const up = () => { handle.removeEventListener('pointermove', move); handle.removeEventListener('pointerup', up); };
      handle.addEventListener('pointermove', move);
      handle.addEventListener('pointerup', up);
    });
    handle.addEventListener('keydown', (e) => {
      const step = e.key === 'ArrowUp' ? 40 : e.key === 'ArrowDown' ? -40 : 0;
      if (step) { e.preventDefault(); set(this.wanted() + step); }
    });
  }
}
