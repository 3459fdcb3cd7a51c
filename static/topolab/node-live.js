// A node of a running lab, stopped, started or restarted from its panel (issue 11), through
// POST /api/v1/topologies/<id>/nodes/<node>/<action> (topology/api/nodes.py). The request waits
// until the operation is done and answers {node, action, state, elapsed_ms}; the lab websocket
// carries the operation's steps and the node's new state (a restart's may be "running" alone, at its
// end), which editor.js paints in the Events tab and on the canvas. This module draws the panel's
// "Live" section: the node's state, the buttons that make sense for it, what is going on, and a
// refusal's words (the server's `detail`).
//
// Nothing here is a document edit: the lab changes, the topology does not.
import {api} from './api.js';
import {el} from './dom.js';

// The DOM event (on document) that tells of this page's operation on a node: {node, action, phase: 'begin'},
// then {node, action, phase: 'end', state: the node's state after it, or '' when refused}. The dock's consoles
// on the node wait for its end (dock.js).
export const NODE_OPERATION = 'topolab:node-operation';

// Lab states whose containers are there to act on (models.LIVE_STATES).
const LIVE = ['running', 'degraded'];

// The three actions, in the order of their buttons; `title` says what each does to the lab.
export const ACTIONS = {
  stop: {label: 'Stop', doing: 'Stopping', done: 'stopped',
    title: (n) => `Pulls the plug: ${n}'s processes end, its links go down until it starts. No confirmation: Start undoes it.`},
  start: {label: 'Start', doing: 'Starting', done: 'started',
    title: (n) => `Starts ${n} again: its links come back to the same peers, with the same addresses, routes and settings.`},
  restart: {label: 'Restart', doing: 'Restarting', done: 'restarted',
    title: (n) => `Stops ${n} and starts it again: its processes and shells start afresh, its links come back as they were.`},
};

// The actions that make sense for a node in `state` (topology/nodes.py refuses the others): a running node
// stops or restarts; any other node of the lab starts: a stopped one, one lost behind Topolab's back (exited,
// gone), or one whose start failed (a start stops what is left of it first, as a restart would).
export function actionsFor(state) {
  if (state === 'running') return ['stop', 'restart'];
  if (['stopped', 'exited', 'gone', 'failed'].includes(state)) return ['start'];
  return [];
}

// What the section says of a node's state, in words (the badge's colour is never alone); its reason,
// when it has one, is shown beside (section()).
export function stateWords(name, st) {
  const state = st && st.state;
  if (!state || state === 'none') return `${name} is not in the running lab (deploy again after adding it).`;
  if (state === 'running') return `${name} is running.`;
  if (state === 'stopped') return `${name} is stopped: its links are down until it starts.`;
  if (state === 'exited' || state === 'gone') return `${name} stopped behind Topolab's back (${state}). Start it to bring it back.`;
  if (state === 'failed') return `${name} failed: start it to try again.`;
  return `${name} is ${state}.`;
}

// Why an action's button is disabled now ('' when it may be pressed). `busy` is this page's request
// in flight ({node, action}, or null); `lab` the lab as the websocket says it ({state, busy}).
export function whyNot({lab, gone = '', busy = null, name, state}) {
  if (gone) return gone;
  if (busy) return busy.node === name ? `Wait: ${ACTIONS[busy.action].doing.toLowerCase()} ${name}…` : `Wait: ${busy.node} is being ${ACTIONS[busy.action].done}.`;
  if (!lab || !LIVE.includes(lab.state)) return lab && lab.busy ? `Wait: the lab is ${lab.state}.` : 'The lab is not running.';
  if (lab.busy) return 'Wait: another operation on the lab is running.';
  if (!state || state === 'none') return `${name} is not in the running lab.`;
  if (state === 'pending' || state === 'creating') return `Wait: ${name} is ${state}.`;
  return '';
}

const FOLLOW_MS = 3000; // how long after an answer the panel still follows the node's news by itself

const seconds = (ms) => `${(Math.round(ms / 100) / 10).toLocaleString(undefined, {minimumFractionDigits: 1})} s`;

function writeStatus(text, level = '') {
  const s = document.getElementById('dock-status');
  if (!s) return;
  s.textContent = text;
  s.dataset.level = level;
}

export class NodeLive {
  // ed: the editor ({config, lab, states, gone}); render(): draws the panel again; status(text, level):
  // the editor's status line (the dock's, by default).
  constructor(ed, {render, status = writeStatus}) {
    this.ed = ed;
    this.render = render;
    this.status = status;
    this.busy = null; // {node, action, since} while a request is on its way (the lab does one at a time)
    this.errors = new Map(); // node -> the last refusal's sentence
    this.done = new Map(); // node -> what the last action did ("Restarted in 0.8 s.")
    this.ticker = null;
  }

  // Is there a section to draw for this node? On a live lab, and while this page's own request runs.
  shown() {
    return LIVE.includes(this.ed.lab.state) || !!this.busy;
  }

  async act(name, action) {
    const why = whyNot({lab: this.ed.lab, gone: this.ed.gone, busy: this.busy, name, state: (this.ed.states[name] || {}).state});
    if (why) { this.status(why, 'warning'); return; }
    const words = ACTIONS[action];
    this.busy = {node: name, action, since: Date.now()};
    this.errors.delete(name);
    this.done.delete(name);
    this.status(`${words.doing} ${name}…`);
    this.tick();
    this.redraw();
    const tell = (detail) => document.dispatchEvent(new CustomEvent(NODE_OPERATION, {detail: {node: name, action, ...detail}}));
    tell({phase: 'begin'});
    let after = '';
    try {
      const answer = await api.nodeAction(this.ed.config.id, name, action);
      // The answer may come before the websocket's news of the node: the panel says what the server did.
      const st = this.ed.states[name];
      if (answer && answer.state && st && st.state !== answer.state) this.ed.states[name] = {state: answer.state, reason: ''};
      after = (answer && answer.state) || '';
      const took = answer && typeof answer.elapsed_ms === 'number' ? ` in ${seconds(answer.elapsed_ms)}` : '';
      this.done.set(name, `${words.done[0].toUpperCase()}${words.done.slice(1)}${took}.`);
      this.status(`${name} ${words.done}${took}.`, 'ok');
    } catch (e) {
      const text = `Not ${words.done}: ${e.message}`;
      this.errors.set(name, text);
      this.status(`${name} ${text.charAt(0).toLowerCase()}${text.slice(1)}`, 'error');
    } finally {
      this.busy = null;
      tell({phase: 'end', state: after});
      this.redraw();
    }
  }

  // Draw the panel again, the keyboard staying in the section: on the button it was on, or, when that one
  // is gone or disabled (Stop becomes Start; every button waits while a request runs), on the first one
  // that can be pressed, else on the section itself.
  redraw() {
    const active = document.activeElement;
    const ours = !!(active && active.dataset && (active.dataset.key || '').startsWith('live.node'));
    this.render();
    if (!ours) return;
    const now = document.activeElement;
    if (now && (now.dataset.key || '').startsWith('live.node.') && !now.disabled) return; // the same button, drawn again
    const next = document.querySelector('#panel [data-key^="live.node."]:not(:disabled)') || document.querySelector('#panel [data-key="live.node"]');
    if (next) next.focus();
  }

  // While a request runs, and a few seconds after: the seconds it has taken, on the busy line; and the
  // node's state as the websocket brings it (the editor leaves a panel with the keyboard in it alone, and
  // the keyboard is here; the news may also come just after the answer).
  tick() {
    clearInterval(this.ticker);
    const node = this.busy.node;
    const now = () => JSON.stringify(this.ed.states[node] || {});
    let drawn = now();
    let until = 0;
    this.ticker = setInterval(() => {
      if (!this.busy && !until) until = Date.now() + FOLLOW_MS;
      if (!this.busy && Date.now() > until) { clearInterval(this.ticker); this.ticker = null; return; }
      if (now() !== drawn) { drawn = now(); this.redraw(); return; }
      const t = document.querySelector('#panel .node-live-elapsed');
      if (t && this.busy) t.textContent = ` ${Math.floor((Date.now() - this.busy.since) / 1000)} s`;
    }, 250);
  }

  // The "Live" section of a running lab's node panel.
  section(panel, name) {
    const st = this.ed.states[name] || {state: 'none', reason: ''};
    const readonly = !!this.ed.config.readonly;
    const busyHere = this.busy && this.busy.node === name;
    const why = whyNot({lab: this.ed.lab, gone: this.ed.gone, busy: this.busy, name, state: st.state});
    const buttons = readonly ? [] : actionsFor(st.state).map((action) => {
      const a = ACTIONS[action];
      const running = busyHere && this.busy.action === action;
      return el('span', {class: 'btn-wrap', title: why || a.title(name)},
        el('button', {class: `btn btn-small node-live-${action}${running ? ' is-busy' : ''}`, 'data-key': `live.node.${action}`,
          disabled: !!why || undefined, 'aria-disabled': why ? 'true' : 'false', 'aria-description': why || a.title(name),
          onclick: () => this.act(name, action)},
        running ? el('span', {class: 'node-live-spinner', 'aria-hidden': 'true'}) : null, a.label));
    });
    const error = this.errors.get(name);
    const done = this.done.get(name);
    const busyLine = busyHere
      ? el('p', {class: 'node-live-busy hint', role: 'status'}, `${ACTIONS[this.busy.action].doing} ${name}…`,
        el('span', {class: 'node-live-elapsed'}, ` ${Math.floor((Date.now() - this.busy.since) / 1000)} s`))
      : null;
    return panel.section('Live (the running lab)', true,
      el('div', {class: 'node-live', tabindex: '-1', 'data-key': 'live.node', 'aria-busy': busyHere ? 'true' : 'false'},
        el('p', {class: 'node-live-state', 'data-state': st.state || 'none'},
          el('span', {class: 'node-live-dot', 'aria-hidden': 'true'}), stateWords(name, st)),
        st.reason ? el('p', {class: 'alert node-live-reason'}, st.reason) : null,
        buttons.length ? el('div', {class: 'row-buttons node-live-buttons'}, buttons) : null,
        readonly ? el('p', {class: 'hint'}, 'Read-only: only its owner stops, starts or restarts it.') : null,
        busyLine,
        error ? el('p', {class: 'alert node-live-error', role: 'alert'}, error) : null,
        !busyHere && !error && done ? el('p', {class: 'hint node-live-done', role: 'status'}, done) : null,
        !readonly && buttons.length && !why ? el('p', {class: 'hint'}, 'These act on the running lab; the topology is not changed.') : null));
  }
}
