// "Ping all" in the editor: the toolbar's button on a running lab, and the matrix it answers, in a dialog.
// Rows are the nodes that pinged, columns the lab's addresses grouped by node; a cell says ✓ with the round
// trip time or ✗ (with why, in its tooltip and in the list below the table): never colour alone.

import {ApiError} from './api.js';
import {el} from './dom.js';

const LIVE = ['running', 'degraded'];
// How the worker words a ping it had no time left to start (topology/pingall.py): not a hole, a gap.
const NOT_RUN = 'not run:';
const notRun = (cell) => !cell.ok && (cell.error || '').startsWith(NOT_RUN);

// A round-trip time in a few characters: 0.09 ms, 1.3 ms, 12 ms.
export function formatRtt(ms) {
  if (ms === null || ms === undefined) return '';
  if (ms < 1) return `${ms.toFixed(2)} ms`;
  if (ms < 10) return `${ms.toFixed(1)} ms`;
  return `${Math.round(ms)} ms`;
}

// The targets as [{node, targets: [...]}], one group per run of the same node (the server sends them grouped).
export function groups(targets) {
  const found = [];
  for (const t of targets) {
    const last = found[found.length - 1];
    if (last && last.node === t.node) last.targets.push(t); else found.push({node: t.node, targets: [t]});
  }
  return found;
}

// {reached, total, skipped, holes: [{source, target, error}]} of an answer; a node's own addresses are not
// cells; pings not run (the deadline) are counted apart, neither reached nor holes.
export function tally(answer) {
  let reached = 0, total = 0, skipped = 0;
  const holes = [];
  for (const source of answer.sources) {
    const row = answer.results[source] || {};
    for (const target of answer.targets) {
      const cell = row[target.address];
      if (!cell) continue;
      total += 1;
      if (cell.ok) reached += 1; else if (notRun(cell)) skipped += 1; else holes.push({source, target, error: cell.error});
    }
  }
  return {reached, total, skipped, holes};
}

export class PingMatrix {
  // ed: the editor's state (ed.lab, ed.config); setDisabled(button, wrap, why) as the toolbar's other buttons.
  constructor(ed, {run, setDisabled}) {
    this.ed = ed;
    this.run = run;
    this.setDisabled = setDisabled;
    this.button = document.getElementById('btn-ping-all');
    this.wrap = document.getElementById('ping-wrap');
    this.dialog = document.getElementById('ping-dialog');
    this.summary = document.getElementById('ping-summary');
    this.body = document.getElementById('ping-body');
    this.rerun = document.getElementById('ping-rerun');
    this.busy = false;
    this.button.addEventListener('click', () => this.open());
    this.rerun.addEventListener('click', () => this.ping());
  }

  // Why there is nothing to ping now ('' when there is).
  why() {
    const lab = this.ed.lab;
    if (lab.busy) return `Wait: the lab is ${lab.state}.`;
    if (!LIVE.includes(lab.state)) return 'The lab is not running: deploy it first.';
    return '';
  }

  // The lab changed: the buttons say whether they can ping, and why not.
  update() {
    const why = this.why();
    this.setDisabled(this.button, this.wrap, why);
    this.rerun.disabled = !!why || this.busy;
    this.rerun.title = why || (this.busy ? 'Pinging…' : 'Ping every address again');
  }

  open() {
    if (this.why()) return;
    if (!this.dialog.open) this.dialog.showModal();
    this.ping();
  }

  async ping() {
    if (this.busy || this.why()) return;
    this.busy = true;
    this.update();
    this.dialog.setAttribute('aria-busy', 'true');
    this.summary.dataset.level = '';
    this.summary.textContent = 'Pinging every address from every node (1 packet each, 1 s timeout)…';
    try {
      const answer = await this.run();
      this.show(answer);
    } catch (e) {
      this.summary.dataset.level = 'error';
      this.summary.textContent = e instanceof ApiError ? `Ping all failed: ${e.message}` : `Ping all failed: ${e}`;
    } finally {
      this.busy = false;
      this.dialog.removeAttribute('aria-busy');
      this.update();
    }
  }

  show(answer) {
    const {reached, total, skipped, holes} = tally(answer);
    const took = `${(answer.took_ms / 1000).toFixed(1)} s`;
    if (!total) {
      this.summary.dataset.level = 'warning';
      this.summary.textContent = answer.sources.length
        ? 'Nothing to ping: no node has an address another node could ping.'
        : 'Nothing to ping: no running node has an address.';
      this.body.replaceChildren();
      return;
    }
    this.summary.dataset.level = reached === total ? 'ok' : 'error';
    this.summary.textContent = reached === total
      ? `All ${total} reachable (took ${took}).`
      : `${reached} of ${total} reachable, ${holes.length} not${skipped ? `, ${skipped} not run (the time ran out)` : ''} (took ${took}).`;
    this.body.replaceChildren(this.table(answer), this.holeList(holes));
  }

  table(answer) {
    const parts = groups(answer.targets);
    const nodeRow = el('tr', {}, el('th', {class: 'ping-corner', rowspan: 2, scope: 'col'}, 'from ↓ · to →'),
      parts.map((g, i) => el('th', {class: `ping-group${i ? ' ping-sep' : ''}`, colspan: g.targets.length, scope: 'colgroup'}, g.node)));
    const addressRow = el('tr', {}, parts.flatMap((g, i) => g.targets.map((t, j) =>
      el('th', {class: `ping-address${i && !j ? ' ping-sep' : ''}`, scope: 'col', title: `${t.node} ${t.interface} ${t.address}`},
        el('span', {class: 'ping-iface'}, t.interface), el('span', {}, t.address)))));
    const rows = answer.sources.map((source) => {
      const row = answer.results[source] || {};
      return el('tr', {}, el('th', {scope: 'row', class: 'ping-source'}, source),
        parts.flatMap((g, i) => g.targets.map((t, j) => this.cell(source, t, row[t.address], i && !j))));
    });
    return el('div', {class: 'ping-scroll'},
      el('table', {class: 'ping-matrix', id: 'ping-matrix'}, el('thead', {}, nodeRow, addressRow), el('tbody', {}, rows)));
  }

  cell(source, target, cell, sep) {
    const cls = (name) => `ping-cell ${name}${sep ? ' ping-sep' : ''}`;
    const to = `${target.address} (${target.node} ${target.interface})`;
    if (!cell) {
      return el('td', {class: cls('ping-self'), title: `${source}'s own address: not pinged`},
        el('span', {'aria-hidden': 'true'}, '—'), el('span', {class: 'sr-only'}, 'own address'));
    }
    if (cell.ok) {
      const rtt = formatRtt(cell.rtt_ms);
      return el('td', {class: cls('ping-ok'), title: `${source} reaches ${to}${rtt ? ` in ${rtt}` : ''}`},
        el('span', {class: 'ping-mark', 'aria-label': 'reached'}, '✓'), rtt ? el('span', {class: 'ping-rtt'}, rtt) : null);
    }
    if (notRun(cell)) {
      return el('td', {class: cls('ping-skip'), title: `${source} → ${to}: ${cell.error}`},
        el('span', {class: 'ping-mark', 'aria-hidden': 'true'}, '…'), el('span', {class: 'sr-only'}, 'not run'));
    }
    return el('td', {class: cls('ping-fail'), title: `${source} does not reach ${to}: ${cell.error}`},
      el('span', {class: 'ping-mark', 'aria-label': 'not reached'}, '✗'), el('span', {class: 'sr-only'}, cell.error));
  }

  holeList(holes) {
    if (!holes.length) return el('p', {class: 'ping-all-ok hint'}, 'Every node reaches every address of the lab.');
    return el('details', {class: 'ping-holes', open: holes.length <= 12},
      el('summary', {}, `Not reached (${holes.length})`),
      el('ul', {}, holes.map((h) => el('li', {},
        el('strong', {}, h.source), ' → ', `${h.target.address} (${h.target.node} ${h.target.interface}): `,
        el('span', {class: 'ping-why'}, h.error || 'no reply')))));
  }
}
