// "Apply changes" in the editor (issue 12): a running lab made to run the saved document, changing only
// what changed. After each save, and whenever the lab's state changes, the server is asked as a dry run
// (POST .../apply?dry_run=true) what applying the saved document would do; the toolbar says how many
// changes the lab does not run yet, beside "Apply changes…". That button (saving first, as Deploy does)
// opens a dialog with what will happen, grouped: nodes created, removed, restarted (and why); links
// added, removed, changed; addresses and routes added and removed; sysctls; files; nodes left for their
// start. Apply queues it; the lab's websocket then carries it as it carries a deploy (the lab `deploying`,
// its steps in the dock's Events with the progress bar), and an apply that failed says why (the lab's
// reason: it runs as before) in the status line and on the indicator.
// Refusals: a 400's problems are outlined where they are (as a failed save's), a 409/429/503 says its detail.
import {ApiError} from './api.js';
import {el} from './dom.js';
import {problemLine} from './problems.js';

const LIVE = ['running', 'degraded'];
const BUSY_RETRY_MS = 2000; // a dry run refused because the lab was busy is asked again this much later

// The dialog's groups, in order. mark: a sign that repeats the title's verb (hidden from screen readers).
export const GROUPS = [
  {key: 'nodes_created', title: 'Nodes created', mark: '+'},
  {key: 'nodes_removed', title: 'Nodes removed', mark: '−'},
  {key: 'nodes_restarted', title: 'Nodes restarted', mark: '↻'},
  {key: 'links_added', title: 'Links added', mark: '+'},
  {key: 'links_removed', title: 'Links removed', mark: '−'},
  {key: 'links_changed', title: 'Links changed', mark: '~'},
  {key: 'addresses_added', title: 'Addresses added', mark: '+'},
  {key: 'addresses_removed', title: 'Addresses removed', mark: '−'},
  {key: 'routes_added', title: 'Routes added', mark: '+'},
  {key: 'routes_removed', title: 'Routes removed', mark: '−'},
  {key: 'sysctls', title: 'Sysctls set', mark: '~'},
  {key: 'files', title: 'Files', mark: '~'},
  // Not a change of their own: nodes that do not run now get the new document when they start.
  {key: 'left', title: 'Not running: they start with the changes', mark: '·'},
];

// An item of a group as {main, detail}: restarted nodes say why, changed links what.
export function itemParts(item) {
  if (typeof item === 'string') return {main: item, detail: ''};
  if (item && item.node !== undefined) return {main: item.node, detail: (item.why || []).join(', ')};
  if (item && item.link !== undefined) return {main: item.link, detail: (item.what || []).join(', ')};
  return {main: JSON.stringify(item), detail: ''};
}

// The addresses of a link added ("c3:eth0 - r1:eth2", as the server names it) from the document, in a few words:
// the server lists the addresses of new nodes, not those of an existing node's end of a new link.
export function linkAddresses(doc, title) {
  const link = ((doc && doc.links) || []).find((l) => (l.endpoints || []).map((e) => `${e.node}:${e.interface}`).join(' - ') === title);
  if (!link) return '';
  return link.endpoints.filter((e) => (e.addresses || []).length).map((e) => `${e.node} ${e.addresses.join(', ')}`).join(' · ');
}

// How many changes an answer's `changes` holds (the nodes left for their start are not changes).
export function countChanges(changes) {
  return GROUPS.reduce((n, g) => n + (g.key === 'left' ? 0 : ((changes || {})[g.key] || []).length), 0);
}

// The groups that have something, each {key, title, mark, items: [{main, detail}]}.
export function groupsOf(changes) {
  return GROUPS.map((g) => ({...g, items: ((changes || {})[g.key] || []).map(itemParts)})).filter((g) => g.items.length);
}

// What the toolbar says of an answer.
export function indicatorText(answer) {
  if (!answer || answer.nothing_to_do) return 'running as drawn';
  const n = Math.max(1, countChanges(answer.changes));
  return `${n} change${n === 1 ? '' : 's'} not applied`;
}

const sentence = (text) => (text ? text.charAt(0).toUpperCase() + text.slice(1) : '');

export class ApplyChanges {
  // ed: the editor's state (doc, saved: the saved document as JSON, lab, config); hooks: run(doc, dryRun) ->
  // the server's answer, save() -> whether it saved, setProblems(errors, warnings), status(text, level),
  // setDisabled(button, wrap, why), setLab(lab), showEvents(): the dock's Events in front.
  constructor(ed, hooks) {
    this.ed = ed;
    this.hooks = hooks;
    this.button = document.getElementById('btn-apply');
    this.wrap = document.getElementById('apply-wrap');
    this.indicator = document.getElementById('apply-indicator');
    this.checked = null; // what the last dry run was asked for: {saved, state, operation}
    this.answer = null; // its answer (the saved document against what runs)
    this.refusal = ''; // why the saved document cannot be applied (the last dry run's 400 or 409)
    this.seq = 0; // the latest dry run: older answers are dropped
    this.preview = null; // the dialog's: {doc, answer}
    this.posting = false;
    this.mine = ''; // the operation of this page's apply, until it ends
    this.failed = ''; // the reason the last apply of this page ended with, if it failed
    this.dialog = this.build();
    document.body.append(this.dialog);
    this.button.addEventListener('click', () => this.open());
  }

  live() { return !this.ed.config.readonly && !!this.ed.doc && LIVE.includes(this.ed.lab.state); }

  dirty() { return !!this.ed.doc && JSON.stringify(this.ed.doc) !== this.ed.saved; }

  // Why "Apply changes…" cannot be used now ('' when it can).
  why() {
    const lab = this.ed.lab;
    if (!this.live()) return 'The lab is not running: deploy it instead.';
    if (lab.busy) return `Wait: the lab is ${lab.state}.`;
    if (this.posting) return 'Applying…';
    if (this.dirty()) return '';
    if (this.refusal) return this.refusal;
    if (this.answer && this.answer.nothing_to_do) return 'Nothing to apply: the lab runs the saved document.';
    return '';
  }

  // The editor's buttons are brought up to date (after an edit, a save, the lab's news): this follows.
  update() {
    const lab = this.ed.lab;
    if (this.mine && !lab.busy && lab.operation === this.mine) this.ended();
    if (!this.live()) {
      this.checked = null; this.answer = null; this.refusal = '';
    } else if (!lab.busy && !this.posting) {
      const c = this.checked;
      if (!c || c.saved !== this.ed.saved || c.state !== lab.state || c.operation !== lab.operation) {
        this.check(!!c && c.saved !== this.ed.saved && c.operation === lab.operation);
      }
    }
    this.render();
  }

  // This page's apply ended: with a reason, it did not apply (the lab runs as it did).
  ended() {
    const reason = this.ed.lab.reason;
    this.mine = '';
    this.failed = reason || '';
    if (reason) this.hooks.status(`${sentence(reason)}${/[.!]$/.test(reason) ? '' : '.'}`, 'error');
    else this.hooks.status('Changes applied: the lab runs the saved document.', 'ok');
  }

  // The dry run of the saved document: what the toolbar says. afterSave: say it in the status line too.
  async check(afterSave) {
    const lab = this.ed.lab;
    const saved = this.ed.saved;
    this.checked = {saved, state: lab.state, operation: lab.operation};
    const seq = ++this.seq;
    try {
      const answer = await this.hooks.run(JSON.parse(saved), true);
      if (seq !== this.seq) return;
      this.answer = answer;
      this.refusal = '';
      if (afterSave && !answer.nothing_to_do && !this.dirty()) {
        this.hooks.status(`Saved; the running lab does not have it yet (${indicatorText(answer)}): Apply changes… applies them.`, 'warning');
      }
    } catch (e) {
      if (seq !== this.seq) return;
      this.answer = null;
      this.refusal = '';
      // Busy (an operation the page has not heard of yet) or the server out of reach: ask again a little later.
      if (e instanceof ApiError && (e.status === 0 || (e.status === 409 && /busy/.test(e.message)))) {
        setTimeout(() => { if (seq === this.seq) { this.checked = null; this.update(); } }, BUSY_RETRY_MS);
      } else if (e instanceof ApiError && e.status === 400) {
        this.refusal = `The saved document cannot be applied: ${e.message}`;
      } else {
        this.refusal = e instanceof ApiError ? sentence(e.message) : String(e);
      }
    }
    this.render();
  }

  // The toolbar: the indicator and the button, shown only while there is something to say or apply (the
  // header has no room to spare): changes not applied, unsaved edits (the button saves first), a refusal,
  // this page's apply running. A lab that runs the saved document shows neither.
  render() {
    const lab = this.ed.lab;
    const dirty = this.live() && this.dirty();
    const changes = !!(this.answer && !this.answer.nothing_to_do);
    const shown = this.live() && (dirty || changes || !!this.refusal || !!this.mine || this.posting);
    this.wrap.hidden = !shown;
    this.indicator.hidden = !shown;
    if (!shown) return;
    this.hooks.setDisabled(this.button, this.wrap, this.why());
    let text = '', level = '', title = '';
    if (this.mine || this.posting) { text = 'applying…'; level = 'busy'; }
    else if (lab.busy) { text = ''; }
    else if (this.refusal) { text = 'cannot be applied'; level = 'error'; title = this.refusal; }
    else if (changes) {
      text = indicatorText(this.answer);
      level = this.failed ? 'error' : 'warning';
      title = this.failed ? `The last apply failed: ${this.failed}`
        : `The saved document differs from what the lab runs${dirty ? ' (and there are unsaved edits)' : ''}: Apply changes… shows what would change`;
    }
    // On two lines, "3 changes" over "not applied" (the space stays in the text, for reading it whole).
    const cut = text.indexOf(' not ');
    this.indicator.replaceChildren(...(cut < 0 ? [text] : [el('span', {}, text.slice(0, cut + 1)), el('span', {}, text.slice(cut + 1))]));
    this.indicator.dataset.level = level;
    this.indicator.title = title;
  }

  // --- the dialog ------------------------------------------------------------------------

  build() {
    this.summary = el('p', {class: 'apply-summary', id: 'apply-summary', role: 'status', 'aria-live': 'polite'});
    this.body = el('div', {class: 'apply-body', id: 'apply-body'});
    this.confirmButton = el('button', {class: 'btn btn-primary', type: 'button', id: 'apply-confirm', onclick: () => this.confirm()}, 'Apply');
    const cancel = el('button', {class: 'btn', value: 'cancel'}, 'Cancel');
    return el('dialog', {class: 'apply-dialog', id: 'apply-dialog', 'aria-labelledby': 'apply-title', 'aria-describedby': 'apply-summary'},
      el('form', {method: 'dialog'},
        el('h2', {id: 'apply-title'}, 'Apply changes'),
        el('p', {class: 'hint'}, 'What the running lab will do to run the saved document. Nodes not listed keep running untouched.'),
        this.summary, this.body,
        el('menu', {}, cancel, this.confirmButton)));
  }

  say(text, level = '') {
    this.summary.textContent = text;
    this.summary.dataset.level = level;
  }

  // "Apply changes…": save what is unsaved, ask what would change, show it.
  async open() {
    if (this.why()) return;
    if (this.dirty() && !(await this.hooks.save())) return; // the failed save outlined its errors and said why
    const doc = JSON.parse(this.ed.saved);
    this.preview = null;
    this.body.replaceChildren();
    this.say('Comparing the saved document with what the lab runs…');
    this.confirmButton.disabled = true;
    this.dialog.setAttribute('aria-busy', 'true');
    if (!this.dialog.open) this.dialog.showModal();
    const seq = ++this.seq;
    this.checked = {saved: this.ed.saved, state: this.ed.lab.state, operation: this.ed.lab.operation};
    try {
      const answer = await this.hooks.run(doc, true);
      if (seq === this.seq) { this.answer = answer; this.refusal = ''; }
      this.preview = {doc, answer};
      this.show(answer, doc);
    } catch (e) {
      this.refused(e);
    } finally {
      this.dialog.removeAttribute('aria-busy');
      this.render();
    }
  }

  show(answer, doc) {
    const n = countChanges(answer.changes);
    if (answer.nothing_to_do) {
      this.say('Nothing to apply: the lab already runs the saved document.', 'ok');
      this.confirmButton.disabled = true;
    } else {
      this.say(`${n} change${n === 1 ? '' : 's'}${answer.changes.nodes_restarted.length ? '; the nodes restarted lose what runs in them (their consoles start again)' : ''}.`, 'warning');
      this.confirmButton.disabled = false;
    }
    const groups = groupsOf(answer.changes);
    for (const i of (groups.find((g) => g.key === 'links_added') || {items: []}).items) i.detail = i.detail || linkAddresses(doc, i.main);
    const sections = groups.map((g) => el('section', {class: 'apply-group', dataset: {group: g.key}},
      el('h3', {}, el('span', {class: 'apply-mark', 'aria-hidden': 'true'}, g.mark), g.title, el('span', {class: 'apply-count'}, ` (${g.items.length})`)),
      el('ul', {}, g.items.map((i) => el('li', {}, el('span', {class: 'apply-main'}, i.main), i.detail ? el('span', {class: 'apply-detail'}, i.detail) : null)))));
    const steps = (answer.steps || []).filter((p) => p.steps.length);
    const total = steps.reduce((k, p) => k + p.steps.length, 0);
    this.body.replaceChildren(el('div', {class: 'apply-groups'}, sections),
      total ? el('details', {class: 'apply-steps'}, el('summary', {}, `The steps (${total})`),
        el('ol', {}, steps.map((p) => el('li', {}, el('span', {class: 'apply-phase'}, p.phase), el('ul', {}, p.steps.map((s) => el('li', {}, s))))))) : null);
    if (!this.confirmButton.disabled) this.confirmButton.focus();
  }

  // A refusal in the dialog: a 400's problems are outlined on the canvas and listed here; others say their detail.
  refused(e) {
    this.confirmButton.disabled = true;
    const api = e instanceof ApiError;
    if (api && e.errors.length) {
      this.hooks.setProblems(e.errors, e.warnings);
      this.say(`Cannot be applied: ${e.errors.length} problem${e.errors.length === 1 ? '' : 's'} (outlined in red).`, 'error');
      this.body.replaceChildren(el('ul', {class: 'problems apply-problems'},
        e.errors.map((p) => el('li', {class: 'error'}, problemLine(this.ed.doc, {...p, level: 'error'})))));
    } else {
      this.say(`Cannot be applied: ${api ? e.message : e}`, 'error');
      this.body.replaceChildren();
    }
    this.hooks.status(`Not applied: ${api ? e.message : e}`, 'error');
  }

  // Apply: queue it; the dialog closes and the lab's progress shows in the dock.
  async confirm() {
    if (this.posting || !this.preview || this.confirmButton.disabled) return;
    this.posting = true;
    this.confirmButton.disabled = true;
    this.say('Applying…');
    this.render();
    try {
      const answer = await this.hooks.run(this.preview.doc, false);
      if (this.dialog.open) this.dialog.close();
      this.preview = null;
      if (answer.queued) {
        this.mine = answer.operation;
        this.failed = '';
        // The lab's websocket may have told of it already (then it knows better than this).
        if (this.ed.lab.operation !== answer.operation) this.hooks.setLab({...this.ed.lab, state: 'deploying', busy: true});
        this.hooks.showEvents();
        this.hooks.status('Applying changes…');
      } else {
        this.checked = null;
        this.hooks.status('Nothing to apply: the lab already runs the saved document.', 'ok');
      }
    } catch (e) {
      this.refused(e);
    } finally {
      this.posting = false;
      this.update();
    }
  }
}
