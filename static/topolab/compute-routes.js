// "Compute routes…" and what "Assign addresses" says in the editor (issue 13, routes without arithmetic).
// Compute routes posts the editor's document as it stands (saved or not) to /routes/compute and previews the
// answer: a row per route (node, prefix, via) with a checkbox, the via editable, and the server's notes.
// Accept adds the checked routes after each node's own, in one commit (one undo step); Reject or Escape
// changes nothing. Routes the user wrote are never touched: the server proposes no prefix a node has already,
// and addRoutes() skips one all the same. The pure functions are exported for the unit tests.

import {ApiError} from './api.js';
import {el} from './dom.js';
import {parseCidr, parseCidr6, parseIp6} from './document-model.js';

const plural = (n, word) => `${n} ${word}${n === 1 ? '' : 's'}`;

// A bare IPv4 address ('10.0.0.1') as a number, or null.
function parseIp4(text) {
  const t = (text || '').trim();
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(t) && parseCidr(`${t}/32`) ? parseCidr(`${t}/32`).ip : null;
}

// The IP version of a route: 'default' takes its family from its via.
export function familyOf(route) {
  if (route.to === 'default') return String(route.via || '').includes(':') ? 6 : 4;
  return route.to.includes(':') ? 6 : 4;
}

// The node's interface networks of an IP version, as [{net, prefix}] (IPv4 numbers or IPv6 BigInts).
function networksOf(doc, node, family) {
  const found = [];
  for (const l of doc.links || []) for (const ep of l.endpoints || []) {
    if (!ep || ep.node !== node) continue;
    for (const a of ep.addresses || []) {
      const c = family === 4 ? parseCidr(a) : parseCidr6(a);
      if (c) found.push(c);
    }
  }
  return found;
}

function inNetwork(ip, c, family) {
  if (family === 4) {
    const m = c.prefix === 0 ? 0 : (0xffffffff << (32 - c.prefix)) >>> 0;
    return ((ip & m) >>> 0) === ((c.ip & m) >>> 0);
  }
  const m = c.prefix === 0 ? 0n : ((1n << 128n) - 1n) ^ ((1n << BigInt(128 - c.prefix)) - 1n);
  return (ip & m) === (c.ip & m);
}

// Is `text` a via the route of `node` can take (an address of the route's family, in one of the node's
// subnets)? Returns a sentence saying what is wrong, or ''.
export function checkVia(doc, route, text) {
  const t = (text || '').trim();
  const family = familyOf(route);
  if (!t) return 'a route needs a via: the address of the next router';
  const ip = family === 4 ? parseIp4(t) : (t.includes('/') ? null : parseIp6(t));
  if (ip === null) return `'${t}' is not an IPv${family} address (the prefix is IPv${family})`;
  if (!networksOf(doc, route.node, family).some((c) => inNetwork(ip, c, family))) {
    return `${t} is in no subnet of ${route.node}: the next router must be on one of its links`;
  }
  return '';
}

// The document with `routes` ([{node, to, via}]) added after each node's own; a prefix the node routes
// already is skipped (a route written by hand stays as it is). Returns {doc, added, nodes: names changed}.
export function addRoutes(doc, routes) {
  const next = structuredClone(doc);
  const byName = new Map((next.nodes || []).map((n) => [n.name, n]));
  const changed = new Set();
  let added = 0;
  for (const route of routes) {
    const node = byName.get(route.node);
    if (!node) continue;
    const family = familyOf(route);
    const same = (r) => r.to === route.to && (route.to !== 'default' || familyOf(r) === family);
    if ((node.routes || []).some(same)) continue;
    node.routes = (node.routes || []).concat([{to: route.to, via: route.via.trim()}]);
    added += 1;
    changed.add(node.name);
  }
  return {doc: next, added, nodes: [...changed]};
}

// "12 routes added to 5 nodes."
export function addedSentence(added, nodes) {
  return `${plural(added, 'route')} added to ${plural(nodes, 'node')}.`;
}

// What Assign addresses did, in words (the result of document-model's assignAddresses).
export function assignedSentence(result) {
  const {addressed, leftAlone, pools, routes} = result;
  const parts = [];
  if (addressed) {
    const from = pools.length > 1 ? `${pools.slice(0, -1).join(', ')} and ${pools[pools.length - 1]}` : pools[0];
    parts.push(`${plural(addressed, 'interface')} addressed${from ? ` from ${from}` : ''}`);
  } else {
    parts.push('no interface addressed');
  }
  if (routes) parts.push(`${plural(routes, 'default route')} added to hosts`);
  let text = parts.join(', ');
  if (leftAlone) text += `; ${leftAlone} left alone: ${leftAlone === 1 ? 'it had addresses' : 'they had addresses'}`;
  return `${text}.`;
}

export class ComputeRoutes {
  // ed: the editor (ed.doc, ed.commit); opts: {compute(doc) -> the API's answer, status(text, level),
  // setProblems(errors, warnings)}.
  constructor(ed, {compute, status, setProblems}) {
    this.ed = ed;
    this.compute = compute;
    this.status = status;
    this.setProblems = setProblems;
    this.dialog = null;
    this.rows = [];
    this.busy = false;
  }

  async open() {
    if (this.busy) return;
    if (this.ed.config.readonly) { this.ed.commit(this.ed.doc); return; } // says why nothing happens
    this.busy = true;
    const doc = this.ed.doc;
    this.status('Computing routes…');
    let answer;
    try {
      answer = await this.compute(doc);
    } catch (e) {
      if (e instanceof ApiError && e.status === 400 && e.errors.length) {
        this.setProblems(e.errors, e.warnings);
        this.status(`Routes not computed: fix the ${plural(e.errors.length, 'error')} first (${e.errors[0].path}: ${e.errors[0].message}).`, 'error');
      } else {
        this.status(`Routes not computed: ${e.message}`, 'error');
      }
      return;
    } finally {
      this.busy = false;
    }
    if (this.ed.doc !== doc) { this.status('The topology changed while routes were computed: try again.', 'warning'); return; }
    if (!answer.routes.length && !answer.notes.length) {
      this.status('Every node reaches every subnet already: no route to add.', 'ok');
      return;
    }
    const nodes = new Set(answer.routes.map((r) => r.node)).size;
    this.status(answer.routes.length ? `${plural(answer.routes.length, 'route')} proposed for ${plural(nodes, 'node')}: nothing changes until Accept.`
      : `No route to add; ${plural(answer.notes.length, 'note')}.`);
    this.show(doc, answer);
  }

  build() {
    const d = el('dialog', {id: 'routes-dialog', class: 'routes-dialog', 'aria-labelledby': 'routes-title'});
    // Closed without Accept (Reject, Escape): say so, unless there was nothing to accept.
    d.addEventListener('close', () => { if (d.returnValue !== 'accept' && this.rows.length) this.status('Routes not added: nothing changed.'); });
    this.form = el('form', {method: 'dialog'});
    this.form.addEventListener('submit', (e) => { if (e.submitter && e.submitter.value === 'accept') this.accept(e); });
    d.append(this.form);
    document.body.append(d);
    return d;
  }

  show(doc, answer) {
    this.dialog = this.dialog || this.build();
    this.doc = doc;
    this.dialog.returnValue = '';
    const nodes = new Set(answer.routes.map((r) => r.node)).size;
    this.rows = answer.routes.map((route) => {
      const box = el('input', {type: 'checkbox', checked: true, 'aria-label': `Add ${route.node}'s route to ${route.to}`});
      const via = el('input', {class: 'routes-via', value: route.via, spellcheck: 'false', autocomplete: 'off',
        'aria-label': `Via, for ${route.node}'s route to ${route.to}`});
      const error = el('span', {class: 'field-error routes-via-error'});
      const tr = el('tr', {dataset: {node: route.node, to: route.to}},
        el('td', {class: 'routes-pick'}, box), el('td', {}, route.node), el('td', {class: 'routes-prefix'}, route.to),
        el('td', {}, via, error));
      const row = {route, box, via, error, tr};
      box.addEventListener('change', () => { tr.classList.toggle('routes-off', !box.checked); this.recount(); this.check(row); });
      via.addEventListener('input', () => this.check(row));
      return row;
    });
    this.all = el('input', {type: 'checkbox', checked: true, 'aria-label': 'All routes'});
    this.all.addEventListener('change', () => {
      for (const row of this.rows) { row.box.checked = this.all.checked; row.tr.classList.toggle('routes-off', !row.box.checked); this.check(row); }
      this.recount();
    });
    this.summary = el('p', {class: 'routes-summary', id: 'routes-summary', role: 'status', 'aria-live': 'polite'});
    this.acceptButton = el('button', {class: 'btn btn-primary', value: 'accept', id: 'routes-accept'}, 'Accept');
    const table = answer.routes.length ? el('div', {class: 'routes-body'}, el('table', {class: 'routes-table', id: 'routes-table'},
      el('thead', {}, el('tr', {}, el('th', {class: 'routes-pick'}, this.all), el('th', {}, 'Node'), el('th', {}, 'Prefix'), el('th', {}, 'Via'))),
      el('tbody', {}, this.rows.map((r) => r.tr)))) : null;
    const notes = answer.notes.length ? el('section', {class: 'routes-notes', 'aria-label': 'Notes'},
      el('h3', {}, 'Notes'), el('ul', {}, answer.notes.map((n) => el('li', {}, n)))) : null;
    this.form.replaceChildren(...[
      el('h2', {id: 'routes-title'}, 'Compute routes'),
      el('p', {class: 'hint'}, answer.routes.length
        ? `Static routes for every node to reach every subnet of the lab by a shortest path: ${plural(answer.routes.length, 'route')} for ${plural(nodes, 'node')}. `
          + 'Uncheck a route to leave it out, or change its via. The routes already in the topology stay as they are.'
        : 'No route to add: every node reaches what it can already.'),
      this.summary, table, notes,
      // Reject is no submit button: Enter in a via field accepts (the form's one submit button), as in any dialog.
      el('menu', {}, el('button', {class: 'btn', type: 'button', id: 'routes-reject', onclick: () => this.dialog.close('reject')},
        answer.routes.length ? 'Reject' : 'Close'),
        answer.routes.length ? this.acceptButton : null)].filter(Boolean));
    this.recount();
    this.dialog.showModal();
    (this.rows.length ? this.acceptButton : this.form.querySelector('#routes-reject')).focus();
  }

  // The checked routes, counted in the summary; Accept needs one.
  recount() {
    const picked = this.rows.filter((r) => r.box.checked);
    const nodes = new Set(picked.map((r) => r.route.node)).size;
    this.summary.textContent = this.rows.length ? `${plural(picked.length, 'route')} of ${this.rows.length} checked, for ${plural(nodes, 'node')}.` : '';
    this.all.checked = picked.length === this.rows.length;
    this.all.indeterminate = picked.length > 0 && picked.length < this.rows.length;
    this.acceptButton.disabled = !picked.length;
  }

  // A checked row's via is checked as an address; an unchecked one is not added, so not checked.
  check(row) {
    const why = row.box.checked ? checkVia(this.doc, row.route, row.via.value) : '';
    row.error.textContent = why;
    row.via.setAttribute('aria-invalid', why ? 'true' : 'false');
    row.via.classList.toggle('invalid', !!why);
    return why;
  }

  accept(e) {
    const bad = this.rows.filter((r) => this.check(r));
    if (bad.length) { e.preventDefault(); bad[0].via.focus(); return; }
    const chosen = this.rows.filter((r) => r.box.checked).map((r) => ({...r.route, via: r.via.value.trim()}));
    const {doc, added, nodes} = addRoutes(this.ed.doc, chosen);
    if (added) this.ed.commit(doc);
    const left = this.rows.length - chosen.length;
    this.status(added ? `${addedSentence(added, nodes.length)}${left ? ` ${plural(left, 'route')} left out.` : ''}` : 'No route added.', added ? 'ok' : '');
  }
}
