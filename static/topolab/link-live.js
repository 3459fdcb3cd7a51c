// A link of a running lab, changed live (issue 11): down/up and its impairment, through
// PATCH /api/v1/topologies/<id>/links/<node:interface> (topology/api/links.py), and the lab
// websocket's "link" message (topology/broadcast.py). The server applies a change to both ends
// at once and saves it in the topology's document; this module writes the same change into the
// editor's document so that the canvas, the panel and the next save agree with the server.
//
// A live change is not an undoable edit: it already happened to the running lab, and undoing
// the document would not undo the lab. So it goes into the document, the saved copy and every
// undo/redo snapshot alike: undo and redo travel through the user's own edits around it, never
// back across it, and the "unsaved" mark says what it said before.
import {api, ApiError} from './api.js';
import {el} from './dom.js';

// The impairment's fields, in the panel's order: the capability that says whether this host can
// do it (GET /api/v1/capabilities), the words its reason is found by, and its bounds.
export const IMPAIRMENTS = [
  {key: 'delay_ms', label: 'Delay (ms)', cap: 'delay', words: ['delay'], max: 60000},
  {key: 'jitter_ms', label: 'Jitter (ms)', cap: 'jitter', words: ['jitter'], max: 60000},
  {key: 'loss_percent', label: 'Loss (%)', cap: 'loss', words: ['loss'], max: 100},
  {key: 'duplicate_percent', label: 'Duplication (%)', cap: 'duplicate', words: ['duplicat'], max: 100},
  {key: 'corrupt_percent', label: 'Corruption (%)', cap: 'corrupt', words: ['corrupt'], max: 100},
  {key: 'rate_kbit', label: 'Rate (kbit/s)', cap: 'rate', words: ['rate', 'tbf', 'htb'], min: 1, max: 100000000, integer: true},
];

// Lab states whose containers are there to change (models.LIVE_STATES).
const LIVE = ['running', 'degraded'];

const number = (x) => (Number.isInteger(x) ? String(x) : String(Math.round(x * 100) / 100));

function rate(kbit) {
  if (kbit >= 1000000) return `${number(kbit / 1000000)} Gbit/s`;
  if (kbit >= 1000) return `${number(kbit / 1000)} Mbit/s`;
  return `${number(kbit)} kbit/s`;
}

// The canvas's short label of an impairment: "20±5 ms · 50% loss · 1 Mbit/s" ('' for none).
export function impairmentLabel(imp) {
  if (!imp || typeof imp !== 'object') return '';
  const parts = [];
  const n = (k) => (typeof imp[k] === 'number' && imp[k] > 0 ? imp[k] : 0);
  if (n('delay_ms')) parts.push(n('jitter_ms') ? `${number(imp.delay_ms)}±${number(imp.jitter_ms)} ms` : `${number(imp.delay_ms)} ms`);
  if (n('loss_percent')) parts.push(`${number(imp.loss_percent)}% loss`);
  if (n('duplicate_percent')) parts.push(`${number(imp.duplicate_percent)}% dup`);
  if (n('corrupt_percent')) parts.push(`${number(imp.corrupt_percent)}% corrupt`);
  if (n('rate_kbit')) parts.push(rate(imp.rate_kbit));
  return parts.join(' · ');
}

// The middle label of a link on the canvas: its state when down, and its impairment.
export function linkLabel(link) {
  const imp = impairmentLabel(link && link.impairment);
  const down = link && link.state === 'down';
  return [down ? 'down' : '', imp].filter(Boolean).join(' · ');
}

const endName = (ep) => `${ep.node}:${ep.interface}`;

// The index of the link of `doc` that has `end` (node:interface) as one of its endpoints, or -1.
export function findLink(doc, end) {
  return ((doc && doc.links) || []).findIndex((l) => l && Array.isArray(l.endpoints) && l.endpoints.some((ep) => ep && endName(ep) === end));
}

// A copy of `doc` with the state and impairment of the link at `end` set as the server says.
export function withLinkChange(doc, end, {state, impairment}) {
  const i = findLink(doc, end);
  if (i < 0) return doc;
  const out = structuredClone(doc);
  const l = out.links[i];
  if (state !== undefined) { if (state === 'down') l.state = 'down'; else delete l.state; }
  if (impairment !== undefined) {
    const kept = impairment && Object.fromEntries(Object.entries(impairment).filter(([, v]) => v !== null && v !== undefined));
    if (kept && Object.keys(kept).length) l.impairment = kept; else delete l.impairment;
  }
  return out;
}

export class LinkLive {
  // ed: the editor (doc, saved, undo, redo, lab, config); render(): draws the document again.
  constructor(ed, {render, status}) {
    this.ed = ed;
    this.render = render;
    this.status = status;
    this.caps = null; // GET /api/v1/capabilities, once; {} when the server has none to tell
    this.capsAsked = false;
    this.capsFailed = 0; // when asking last failed
    this.drafts = new Map(); // end -> {field: text} typed in a live panel and not applied yet
    this.errors = new Map(); // end -> [{path, message}] of the last refused change
    this.busy = new Set(); // ends with a change on its way
  }

  // Is the lab running, so that a link's panel changes it live (not only the document)?
  live() {
    const lab = this.ed.lab;
    return LIVE.includes(lab.state) && !lab.busy && !this.ed.config.readonly;
  }

  // What this host can do, asked once; the panel is drawn again when it comes. Unknown ({}: every
  // field offered, the server still refuses what it cannot do) when the server cannot say yet (503
  // before the lab worker probed its kernel): asked again, at most every 30 s, by a later panel.
  capabilities() {
    if (!this.capsAsked || (this.capsFailed && Date.now() - this.capsFailed > 30000)) {
      this.capsAsked = true;
      this.capsFailed = 0;
      api.capabilities().then((c) => { this.caps = c || {}; this.render(); }, () => {
        this.capsFailed = Date.now();
        if (this.caps === null) { this.caps = {}; this.render(); }
      });
    }
    return this.caps;
  }

  // Why this host cannot do an impairment field ('' when it can, or when it is not known).
  cannot(field) {
    const caps = this.caps;
    if (!caps || !caps.impairments || !(field.cap in caps.impairments)) return '';
    if (caps.impairments[field.cap]) return '';
    const missing = Array.isArray(caps.missing) ? caps.missing : [];
    const said = missing.find((s) => field.words.some((w) => String(s).toLowerCase().includes(w)));
    return said ? String(said) : `this host's kernel cannot do ${field.label.replace(/ \(.*\)$/, '').toLowerCase()}`;
  }

  // A change the server made (the PATCH's answer, or the websocket's "link" message): into the
  // document and its history (see the top of this file), then drawn.
  received({end, state, impairment}, {quiet = false} = {}) {
    const ed = this.ed;
    if (!ed.doc || findLink(ed.doc, end) < 0) return;
    const change = {state, impairment};
    const before = JSON.stringify(ed.doc.links[findLink(ed.doc, end)]);
    ed.doc = withLinkChange(ed.doc, end, change);
    const after = ed.doc.links[findLink(ed.doc, end)];
    if (!quiet && JSON.stringify(after) !== before) {
      // Changed from elsewhere (another tab, the API, the CLI): say so where the editor says things.
      const [a, b] = after.endpoints;
      this.status(`Link ${a.node} ${a.interface} — ${b.node} ${b.interface} changed: ${linkLabel(after) || 'up, no impairment'}.`);
    }
    if (ed.saved) ed.saved = JSON.stringify(withLinkChange(JSON.parse(ed.saved), end, change));
    const rewrite = (list) => list.map((s) => JSON.stringify(withLinkChange(JSON.parse(s), end, change)));
    ed.undo = rewrite(ed.undo);
    ed.redo = rewrite(ed.redo);
    // The other end's name too: a draft is kept under the end the panel used.
    const link = ed.doc.links[findLink(ed.doc, end)];
    for (const ep of link.endpoints) { this.drafts.delete(endName(ep)); this.errors.delete(endName(ep)); }
    this.render();
  }

  // Send a change of the link at `index` of the document; the answer is drawn, or its errors shown.
  async change(index, body, words) {
    const ed = this.ed;
    const link = ed.doc.links[index];
    const end = endName(link.endpoints[0]);
    if (this.busy.has(end)) return;
    this.busy.add(end);
    this.errors.delete(end);
    this.render();
    try {
      const answer = await api.patchLink(ed.config.id, end, body);
      this.busy.delete(end);
      const saved = (answer && answer.link) || {};
      this.received({end, state: saved.state || 'up', impairment: saved.impairment || null}, {quiet: true});
      this.status(answer && answer.applied === false ? `${words}: saved; it takes effect at the next deploy.` : `${words}.`, 'ok');
    } catch (e) {
      this.busy.delete(end);
      const errors = e instanceof ApiError && e.errors.length ? e.errors : [{path: '', message: e.message}];
      this.errors.set(end, errors);
      this.status(`Not changed: ${errors[0].message}`, 'error');
      this.render();
    }
  }

  // The "Live" section of a running lab's link panel: the state toggle, the impairment's fields
  // with Apply and Clear. Nothing here is a document edit: each button is a change of the lab.
  section(panel, link, index) {
    this.capabilities();
    const end = endName(link.endpoints[0]);
    const busy = this.busy.has(end);
    const errors = this.errors.get(end) || [];
    const errorAt = (path) => errors.filter((p) => p.path === path).map((p) => p.message).join('; ');
    const known = new Set(IMPAIRMENTS.map((f) => `impairment.${f.key}`).concat(['state']));
    const elsewhere = errors.filter((p) => !known.has(p.path));
    const down = link.state === 'down';
    const draft = this.drafts.get(end) || {};
    const imp = link.impairment || {};

    const toggle = el('button', {class: `btn link-toggle${down ? ' is-down' : ''}`, role: 'switch', 'aria-checked': down ? 'false' : 'true',
      'data-key': 'live.state', disabled: busy || undefined,
      title: down ? 'The link is down: both ends are administratively down. Click to set it up.' : 'The link is up. Click to set it down (both ends).',
      onclick: () => this.change(index, {state: down ? 'up' : 'down'}, down ? 'Link set up' : 'Link set down')},
    el('span', {class: 'link-toggle-dot', 'aria-hidden': 'true'}), down ? 'Down' : 'Up',
    el('span', {class: 'link-toggle-hint'}, down ? '· set up' : '· set down'));
    const stateError = errorAt('state');

    const inputs = {};
    const fields = IMPAIRMENTS.map((f) => {
      const why = this.cannot(f);
      const id = `live-imp-${f.key}`;
      const message = errorAt(`impairment.${f.key}`);
      const input = el('input', {id, type: 'text', inputmode: 'decimal', 'data-key': `live.imp.${f.key}`, placeholder: why ? 'not here' : 'none',
        spellcheck: 'false', autocomplete: 'off', disabled: why || busy ? true : undefined, title: why || undefined,
        'aria-labelledby': `${id}-label`, 'aria-describedby': `${id}-why ${id}-err`, 'aria-invalid': message ? 'true' : 'false', class: message ? 'invalid' : undefined});
      input.value = f.key in draft ? draft[f.key] : (imp[f.key] ?? '');
      const err = el('span', {class: 'field-error', id: `${id}-err`, 'aria-live': 'polite'}, message);
      input.addEventListener('input', () => {
        this.drafts.set(end, {...(this.drafts.get(end) || {}), [f.key]: input.value});
        const m = checkValue(f, input.value);
        err.textContent = m;
        input.classList.toggle('invalid', !!m);
        input.setAttribute('aria-invalid', m ? 'true' : 'false');
      });
      input.addEventListener('keydown', (e) => { if (e.key === 'Enter') { e.preventDefault(); apply(); } });
      inputs[f.key] = input;
      return el('label', {class: `field live-field${why ? ' cannot' : ''}`, for: id, title: why || undefined},
        el('span', {class: 'label', id: `${id}-label`}, f.label), input,
        why ? el('span', {class: 'help cannot-why', id: `${id}-why`}, `Not on this host: ${why}`) : null, err);
    });

    const apply = () => {
      const out = {};
      const problems = [];
      for (const f of IMPAIRMENTS) {
        const v = inputs[f.key].value.trim();
        if (v === '' || inputs[f.key].disabled) continue;
        const m = checkValue(f, v);
        if (m) problems.push({path: `impairment.${f.key}`, message: m}); else out[f.key] = Number(v);
      }
      if (problems.length) { this.errors.set(end, problems); this.render(); return; }
      const words = Object.keys(out).length ? `Impairment applied: ${impairmentLabel(out) || 'none'}` : 'Impairment cleared';
      this.change(index, {impairment: Object.keys(out).length ? out : null}, words);
    };
    const has = !!link.impairment;
    const buttons = el('div', {class: 'row-buttons'},
      el('button', {class: 'btn btn-small btn-primary', 'data-key': 'live.apply', disabled: busy || undefined, onclick: apply,
        title: 'Set these values on both ends of the running link now'}, 'Apply'),
      el('button', {class: 'btn btn-small', 'data-key': 'live.clear', disabled: busy || !has || undefined,
        title: has ? 'Remove the impairment from both ends now' : 'The link has no impairment',
        onclick: () => { this.drafts.delete(end); this.change(index, {impairment: null}, 'Impairment cleared'); }}, 'Clear'),
      busy ? el('span', {class: 'hint', role: 'status'}, 'Applying…') : null);

    const caps = this.caps;
    return panel.section('Live (the running lab)', true,
      el('p', {class: 'hint'}, 'These change the running lab at once, on both ends, and are saved with the topology (not undone by Undo).'),
      el('div', {class: 'field live-state'}, el('span', {class: 'label'}, 'State'), toggle,
        el('span', {class: 'field-error', 'aria-live': 'polite'}, stateError)),
      el('p', {class: 'live-now muted', 'aria-live': 'polite'}, has ? `Impairment now: ${impairmentLabel(link.impairment)}` : 'No impairment.'),
      el('fieldset', {class: 'live-imp'}, el('legend', {}, 'Impairment (both directions)'), ...fields, buttons),
      elsewhere.length ? el('p', {class: 'alert', role: 'alert'}, elsewhere.map((p) => p.message).join(' ')) : null,
      this.captureButtons(link),
      caps === null ? el('p', {class: 'hint'}, 'Asking what this host can do…') : null);
  }

  // Capture (issue 14): each end's packets, live, on a page of its own (static/topolab/capture.js).
  captureButtons(link) {
    return el('div', {class: 'row-buttons live-capture'}, ...link.endpoints.map((ep) => el('a', {class: 'btn btn-small', target: '_blank', rel: 'noopener',
      href: `/topologies/${this.ed.config.id}/capture/?target=${encodeURIComponent(endName(ep))}`, 'data-key': `live.capture.${endName(ep)}`,
      title: `See the packets on ${ep.node} ${ep.interface} as they pass, and download them as a .pcap`}, `Capture ${ep.node} ${ep.interface}`)));
  }

  // A supervisor's link panel (read-only: nothing of the lab changes from here) on a running lab: only the
  // capture buttons, since watching packets changes nothing and the capture page allows supervisors. Null
  // for the owner (the Live section has them) or a lab not running.
  watchSection(panel, link) {
    const lab = this.ed.lab;
    if (!this.ed.config.readonly || !LIVE.includes(lab.state) || lab.busy) return null;
    return panel.section('Capture (the running lab)', true,
      el('p', {class: 'hint'}, 'Watch the packets on either end as they pass; this changes nothing in the lab.'),
      this.captureButtons(link));
  }

  // On a stopped lab the impairment's fields edit the document; a field this host cannot do stays
  // editable (the document may be deployed elsewhere) and says why a deploy here would refuse it.
  documentHelp(field) {
    this.capabilities();
    const why = this.cannot(field);
    return why ? `Not on this host: ${why}` : '';
  }
}

// The error sentence for a typed value of an impairment field ('' when fine or empty).
export function checkValue(field, text) {
  const v = String(text).trim();
  if (v === '') return '';
  const x = Number(v);
  if (!Number.isFinite(x) || x < 0) return 'a number, 0 or more';
  if (field.integer && !Number.isInteger(x)) return 'a whole number';
  if (field.min !== undefined && x < field.min) return `at least ${field.min}`;
  if (field.max !== undefined && x > field.max) return `at most ${field.max}`;
  return '';
}
