// FRR's tools in the editor (issue 12), for nodes whose kind runs FRR (the kind's `frr` in the page's config;
// the kind named "frr" while the config does not say):
//
// - in the node's panel, an "FRR" section: "Starting config…" (choose OSPF, BGP, IS-IS; the server makes the
//   files from the SAVED document, so unsaved changes are saved first; "Use it" replaces the node's files of the
//   same paths, asking first when it has some) and "Check with FRR" (the node's /etc/frr/frr.conf through FRR's
//   own checker; each error with its line, the line's text under it, a click selects that line in the file);
// - "Save configs…" in the dock's header on a running lab with frr nodes: each node's running configuration
//   against its frr.conf in the saved topology as a unified diff, then Save writes them into the topology and
//   the editor takes the saved document (hooks.reload).
//
// What a section shows (the chooser, the generated files, the last check) is kept per node here, not in the
// panel's elements: the panel is drawn again on every change of the lab's state.
import {frrApi} from './api.js';
import {el} from './dom.js';
import * as model from './document-model.js';

export const CONF = '/etc/frr/frr.conf';
export const DAEMONS = [['ospf', 'OSPF'], ['bgp', 'BGP'], ['isis', 'IS-IS']];
const LIVE = ['running', 'degraded'];

// True for a kind that runs FRR.
export function runsFrr(kind) {
  const info = model.kindInfo(kind);
  if (!info) return false;
  return info.frr === undefined ? kind === 'frr' : !!info.frr;
}

// A file's path as FRR's files are compared (doubled and trailing slashes do not make another file).
export function samePath(path) {
  return String(path || '').replace(/\/+/g, '/').replace(/(.)\/$/, '$1');
}

// The index of a node's frr.conf in its files, or -1.
export function confIndex(node) {
  return (node.files || []).findIndex((f) => f && samePath(f.path) === CONF);
}

// The node's files with `generated` ({path, content}) in place of those of the same paths, the others kept.
export function withFiles(files, generated) {
  const out = (files || []).map((f) => ({...f}));
  for (const g of generated) {
    const i = out.findIndex((f) => samePath(f.path) === samePath(g.path));
    if (i >= 0) out[i] = {...out[i], path: g.path, content: g.content};
    else out.push({path: g.path, content: g.content});
  }
  return out;
}

// Where line `n` (1-based) of `text` starts and ends, as offsets for a textarea's selection.
export function lineRange(text, n) {
  const lines = text.split('\n');
  if (!n || n < 1 || n > lines.length) return null;
  let start = 0;
  for (let i = 0; i < n - 1; i++) start += lines[i].length + 1;
  return {start, end: start + lines[n - 1].length};
}

// The errors with a line that a failed deploy's reason gives for the node's frr.conf (its start command's
// check: "'topolab-frr-start' exited with code 1: /etc/frr/frr.conf: line 4: % Unknown command: ..."), or [].
export function deployErrors(reason) {
  const text = String(reason || '');
  if (!text.includes(CONF)) return [];
  return [...text.matchAll(/line (\d+): ?([^\n]*)/g)].map((m) => ({line: Number(m[1]), message: m[2].trim()}));
}

// The lines around line `n` of `text`: [{number, text, here}].
export function excerpt(text, n, around = 1) {
  const lines = text.replace(/\n$/, '').split('\n'); // a file's last newline ends its last line, it makes none
  if (!n || n < 1 || n > lines.length) return [];
  const out = [];
  for (let i = Math.max(1, n - around); i <= Math.min(lines.length, n + around); i++) out.push({number: i, text: lines[i - 1], here: i === n});
  return out;
}

// A unified diff's lines with what each is: 'add', 'del', 'hunk', 'meta' (the ---/+++ header) or 'same'.
export function diffLines(diff) {
  return String(diff || '').replace(/\n$/, '').split('\n').filter((l, i, all) => l || i < all.length - 1).map((line) => {
    if (line.startsWith('+++') || line.startsWith('---')) return {line, type: 'meta'};
    if (line.startsWith('@@')) return {line, type: 'hunk'};
    if (line.startsWith('+')) return {line, type: 'add'};
    if (line.startsWith('-')) return {line, type: 'del'};
    return {line, type: 'same'};
  });
}

export class FrrTools {
  // ed: the editor's state (doc, lab, states, config, commit); hooks: {topology, dirty() -> bool, save() -> Promise<bool>,
  // reload(doc): take the server's document as saved, status(text, level), setDisabled(button, wrap, reason)}
  constructor(ed, hooks) {
    this.ed = ed;
    this.hooks = hooks;
    this.views = new Map(); // node name -> {choosing, daemons, making, generated, confirming, checking, check, error}
    this.panel = null;
    this.button = null;
    this.dialog = null;
    this.mountButton();
    // Typing in a file does not draw the panel again (panel.js): the last check says when it is about an older file.
    document.addEventListener('input', (e) => { if (e.target.closest && e.target.closest('#panel')) this.markStale(); });
  }

  markStale() {
    const box = document.querySelector('#panel .frr-tools');
    const note = box && box.querySelector('.frr-stale');
    const v = box && this.views.get(box.dataset.node);
    const node = v && v.check && this.ed.doc.nodes.find((n) => n.name === box.dataset.node);
    if (!note || !node) return;
    const i = confIndex(node);
    note.hidden = i >= 0 && (node.files[i].content || '') === v.check.text;
  }

  runs(kind) { return runsFrr(kind); }

  view(name) {
    if (!this.views.has(name)) this.views.set(name, {daemons: new Set(['ospf'])});
    return this.views.get(name);
  }

  redraw() { if (this.panel) this.panel.render(); }

  // --- the node's panel ------------------------------------------------------------------------

  // The "FRR" section of an frr node's panel (null for any other node).
  section(panel, node) {
    if (!runsFrr(node.kind || model.defaultKindName())) return null;
    this.panel = panel;
    const v = this.view(node.name);
    const readonly = !!this.ed.config.readonly;
    const body = el('div', {class: 'frr-tools', 'data-node': node.name});
    const ci = confIndex(node);
    const checkWhy = readonly ? 'Read-only' : ci < 0 ? `${node.name} has no ${CONF} yet: Starting config… makes one` : v.checking ? 'Checking…' : '';
    body.append(el('p', {class: 'hint'}, `${node.name} runs FRR with its files below (${CONF}, /etc/frr/daemons); those it lacks get defaults.`),
      el('div', {class: 'row-buttons'},
        el('button', {class: 'btn btn-small frr-start-btn', disabled: readonly || v.making || undefined, 'aria-expanded': String(!!v.choosing),
          onclick: () => { v.choosing = !v.choosing; v.generated = null; v.confirming = false; v.error = ''; this.redraw(); }}, 'Starting config…'),
        el('span', {class: 'btn-wrap', title: checkWhy || `Check ${CONF} with FRR's own checker (vtysh -C)`},
          el('button', {class: 'btn btn-small frr-check-btn', disabled: !!checkWhy || undefined, onclick: () => this.check(node.name)}, 'Check with FRR'))));
    if (v.error) body.append(el('p', {class: 'alert frr-error', role: 'alert'}, v.error));
    const failed = this.deployFailure(node);
    if (failed) body.append(failed);
    if (v.choosing) body.append(this.chooser(node, v));
    if (v.checking) body.append(el('p', {class: 'frr-busy muted', role: 'status'}, 'Checking with FRR…'));
    else if (v.check) body.append(this.checkResult(node, v));
    return panel.section('FRR', true, body);
  }

  chooser(node, v) {
    const box = el('div', {class: 'frr-chooser', role: 'group', 'aria-label': 'Starting config'});
    if (!v.generated) {
      box.append(el('p', {class: 'hint'}, `Which protocols should ${node.name} run on its addressed interfaces?`),
        el('div', {class: 'frr-daemons'}, DAEMONS.map(([key, label]) => {
          const input = el('input', {type: 'checkbox', value: key, checked: v.daemons.has(key) || undefined});
          input.addEventListener('change', () => { if (input.checked) v.daemons.add(key); else v.daemons.delete(key); this.redraw(); });
          return el('label', {class: 'frr-daemon'}, input, label);
        })),
        el('div', {class: 'row-buttons'},
          el('button', {class: 'btn btn-small btn-primary', disabled: !v.daemons.size || v.making || undefined,
            title: v.daemons.size ? '' : 'Choose at least one', onclick: () => this.make(node.name)}, v.making ? 'Making…' : 'Make it'),
          el('button', {class: 'btn btn-small btn-quiet', onclick: () => { v.choosing = false; this.redraw(); }}, 'Cancel')));
      return box;
    }
    box.append(el('p', {class: 'hint'}, `For ${[...v.daemons].map((d) => DAEMONS.find(([k]) => k === d)[1]).join(', ')}, from the saved topology:`));
    for (const f of v.generated) {
      box.append(el('div', {class: 'frr-generated'}, el('div', {class: 'frr-path'}, el('code', {}, f.path)), el('pre', {class: 'frr-code'}, f.content)));
    }
    const current = this.ed.doc.nodes.find((n) => n.name === node.name) || node;
    const replaced = (current.files || []).filter((f) => v.generated.some((g) => samePath(g.path) === samePath(f.path)));
    if (v.confirming) {
      box.append(el('p', {class: 'frr-confirm', role: 'alert'}, `Replace ${node.name}'s ${replaced.map((f) => f.path).join(' and ')}? Its other files stay.`),
        el('div', {class: 'row-buttons'},
          el('button', {class: 'btn btn-small btn-primary', onclick: () => this.use(node.name)}, 'Replace'),
          el('button', {class: 'btn btn-small btn-quiet', onclick: () => { v.confirming = false; this.redraw(); }}, 'Cancel')));
    } else {
      box.append(el('div', {class: 'row-buttons'},
        el('button', {class: 'btn btn-small btn-primary', onclick: () => { if (replaced.length) { v.confirming = true; this.redraw(); } else this.use(node.name); }}, 'Use it'),
        el('button', {class: 'btn btn-small btn-quiet', onclick: () => { v.generated = null; this.redraw(); }}, 'Back'),
        el('button', {class: 'btn btn-small btn-quiet', onclick: () => { v.choosing = false; v.generated = null; this.redraw(); }}, 'Cancel')));
    }
    return box;
  }

  async make(name) {
    const v = this.view(name);
    v.making = true; v.error = '';
    this.redraw();
    try {
      // The server makes it from the saved document: its interfaces and addresses as the editor shows them.
      if (this.hooks.dirty() && !(await this.hooks.save())) { v.error = 'Not made: the topology could not be saved (see the status line).'; return; }
      const answer = await frrApi.startingConfig(this.hooks.topology, name, [...v.daemons]);
      v.generated = answer.files || [];
    } catch (e) {
      v.error = `Not made: ${e.message}`;
    } finally {
      v.making = false;
      this.redraw();
    }
  }

  use(name) {
    const v = this.view(name);
    const files = v.generated;
    if (!files) return;
    this.ed.commit(model.updateNode(this.ed.doc, name, (n) => ({...n, files: withFiles(n.files, files)})), {source: 'frr'});
    v.choosing = false; v.generated = null; v.confirming = false; v.check = null;
    this.hooks.status(`${name}'s ${files.map((f) => f.path).join(' and ')} replaced by the starting config.`, 'ok');
    this.redraw();
  }

  async check(name) {
    const v = this.view(name);
    const node = this.ed.doc.nodes.find((n) => n.name === name);
    const i = node ? confIndex(node) : -1;
    if (i < 0) return;
    const text = node.files[i].content || '';
    v.checking = true; v.error = ''; v.check = null;
    this.redraw();
    try {
      const answer = await frrApi.check(text);
      v.check = {ok: !!answer.ok, errors: answer.errors || [], text};
    } catch (e) {
      v.error = e.status === 429 ? `Not checked: ${e.message}. Try again in a few seconds.` : `Not checked: ${e.message}`;
    } finally {
      v.checking = false;
      this.redraw();
    }
  }

  checkResult(node, v) {
    const i = confIndex(node);
    const stale = i < 0 || (node.files[i].content || '') !== v.check.text;
    const box = el('div', {class: 'frr-check', 'data-ok': String(v.check.ok), role: 'status'});
    if (v.check.ok) box.append(el('p', {class: 'frr-ok'}, '✓ FRR accepts this configuration.'));
    else {
      const n = v.check.errors.length;
      box.append(el('p', {class: 'frr-bad'}, `✕ FRR refuses this configuration: ${n} error${n === 1 ? '' : 's'}.`));
      box.append(el('ul', {class: 'frr-errors'}, v.check.errors.map((e) => this.errorItem(node.name, v.check.text, e, stale))));
    }
    box.append(el('p', {class: 'hint frr-stale', hidden: !stale || undefined}, `${CONF} changed since: check it again.`));
    return box;
  }

  // A deploy that failed at FRR's check of this node's frr.conf: its errors with their lines, shown against the
  // file as it was saved (what was deployed), and said to be older when the file changed since.
  deployFailure(node) {
    const st = this.ed.states[node.name];
    const errors = st && st.state === 'failed' ? deployErrors(st.reason) : [];
    if (!errors.length) return null;
    let text = '';
    try {
      const saved = JSON.parse(this.ed.saved || '{}');
      const was = (saved.nodes || []).find((n) => n.name === node.name);
      const i = was ? confIndex(was) : -1;
      text = i >= 0 ? was.files[i].content || '' : '';
    } catch { /* nothing saved to show */ }
    const i = confIndex(node);
    const stale = i < 0 || (node.files[i].content || '') !== text;
    return el('div', {class: 'frr-check frr-deploy-failed', 'data-ok': 'false'},
      el('p', {class: 'frr-bad'}, `✕ The deploy stopped at FRR's check of ${CONF}:`),
      el('ul', {class: 'frr-errors'}, errors.map((e) => this.errorItem(node.name, text, e, stale))),
      stale ? el('p', {class: 'hint'}, `${CONF} changed since the deploy.`) : null);
  }

  errorItem(name, text, error, stale) {
    const lines = excerpt(text, error.line);
    return el('li', {class: 'frr-err', 'data-line': error.line ?? ''},
      el('div', {},
        error.line ? el('button', {class: 'btn-link frr-line', title: stale ? 'The file changed since the check' : `Select line ${error.line} in ${CONF}`,
          onclick: () => this.selectLine(name, error.line)}, `line ${error.line}`) : null,
        el('span', {class: 'frr-msg'}, error.message)),
      lines.length ? el('pre', {class: 'frr-excerpt'}, lines.map((l) => el('span', {class: l.here ? 'frr-here' : ''},
        el('span', {class: 'frr-lno'}, String(l.number)), `${l.text}\n`))) : null);
  }

  // Select line `n` of the node's frr.conf in the panel's Files section (opened), scrolled into sight.
  selectLine(name, n) {
    const node = this.ed.doc.nodes.find((x) => x.name === name);
    const i = node ? confIndex(node) : -1;
    const area = i >= 0 && document.querySelector(`#panel [data-key="node.file${i}.content"]`);
    if (!area) return;
    const details = area.closest('details');
    if (details) details.open = true;
    const range = lineRange(area.value, n);
    if (!range) return;
    area.focus();
    area.setSelectionRange(range.start, range.end);
    const height = parseFloat(getComputedStyle(area).lineHeight) || 16;
    area.scrollTop = Math.max(0, (n - 3) * height);
    area.scrollIntoView({block: 'nearest'});
  }

  // --- "Save configs…" ---------------------------------------------------------------------------

  mountButton() {
    const ping = document.getElementById('ping-wrap');
    if (!ping || this.ed.config.readonly) return;
    this.button = el('button', {class: 'btn btn-small', id: 'btn-frr-save', onclick: () => this.openSave()}, 'Save configs…');
    this.wrap = el('span', {class: 'btn-wrap frr-save-wrap', id: 'frr-save-wrap', hidden: true}, this.button);
    ping.after(this.wrap);
  }

  frrNodes() {
    return ((this.ed.doc && this.ed.doc.nodes) || []).filter((n) => runsFrr(n.kind || model.defaultKindName())).map((n) => n.name);
  }

  // The button follows the lab and the document (editor.js calls it with its other buttons).
  update() {
    if (!this.wrap) return;
    const lab = this.ed.lab;
    const running = this.frrNodes().filter((n) => this.ed.states[n] && this.ed.states[n].state === 'running');
    this.wrap.hidden = !LIVE.includes(lab.state) || !this.frrNodes().length;
    let why = '';
    if (lab.busy) why = `Wait: the lab is ${lab.state}.`;
    else if (!running.length) why = 'No FRR node of the lab is running.';
    this.hooks.setDisabled(this.button, this.wrap, why);
    if (!why) this.wrap.title = `Pull the running configuration of ${running.join(', ')} into the topology (shows the diff first)`;
  }

  makeDialog() {
    if (this.dialog) return this.dialog;
    const d = el('dialog', {class: 'frr-save-dialog', id: 'frr-save-dialog', 'aria-labelledby': 'frr-save-title'});
    this.summary = el('p', {class: 'frr-save-summary', role: 'status', 'aria-live': 'polite'});
    this.body = el('div', {class: 'frr-save-body'});
    this.saveBtn = el('button', {class: 'btn btn-primary', type: 'button', id: 'frr-save-confirm', onclick: () => this.save()}, 'Save');
    d.append(el('form', {method: 'dialog'},
      el('h2', {id: 'frr-save-title'}, 'Save configs'),
      el('p', {class: 'hint'}, `Each running FRR node's configuration (show running-config) against its ${CONF} in the saved topology. Save writes them into the topology, so that it starts where it is now.`),
      this.summary, this.body,
      el('menu', {}, el('button', {class: 'btn', value: 'cancel'}, 'Cancel'), this.saveBtn)));
    document.body.append(d);
    this.dialog = d;
    return d;
  }

  say(text, level = '') {
    this.summary.textContent = text;
    this.summary.dataset.level = level;
  }

  async openSave() {
    const d = this.makeDialog();
    this.body.replaceChildren();
    this.saveBtn.disabled = true;
    d.setAttribute('aria-busy', 'true');
    if (!d.open) d.showModal();
    try {
      let first = '';
      if (this.hooks.dirty()) {
        // The diffs are against the saved topology, and saving writes into it: the changes here go first.
        this.say('Saving your changes first…');
        if (!(await this.hooks.save())) { this.say('Your changes could not be saved: see the status line, then try again.', 'error'); return; }
        first = 'Your changes were saved first. ';
      }
      this.say(`${first}Reading the running configurations…`);
      const results = await frrApi.saveConfigs(this.hooks.topology, true);
      this.show(results, first);
    } catch (e) {
      this.say(`Could not read the running configurations: ${e.message}`, 'error');
    } finally {
      d.removeAttribute('aria-busy');
    }
  }

  show(results, first = '') {
    this.results = results;
    this.body.replaceChildren(...results.map((r) => el('section', {class: 'frr-node-diff', 'data-node': r.node, 'data-changed': String(!!r.changed)},
      el('h3', {}, r.node, ' ', el('code', {class: 'muted'}, r.path), ' ',
        el('span', {class: `frr-tag ${r.error ? 'frr-tag-error' : r.changed ? 'frr-tag-changed' : ''}`}, r.error ? 'not read' : r.changed ? 'changed' : 'no change')),
      r.error ? el('p', {class: 'alert'}, r.error)
        : r.changed ? el('pre', {class: 'frr-diff'}, diffLines(r.diff).map(({line, type}) => el('span', {class: `d-${type}`}, `${line}\n`))) : null)));
    const changed = results.filter((r) => r.changed).map((r) => r.node);
    const failed = results.filter((r) => r.error).length;
    this.saveBtn.disabled = !changed.length;
    if (!results.length) this.say(`${first}No FRR node of the lab is running.`, 'warning');
    else if (changed.length) this.say(`${first}${changed.join(', ')} run${changed.length === 1 ? 's' : ''} a configuration the topology does not have${failed ? `; ${failed} could not be read` : ''}.`, failed ? 'warning' : '');
    else this.say(`${first}The topology already has every running configuration${failed ? `, except ${failed} that could not be read` : ''}: nothing to save.`, failed ? 'warning' : 'ok');
  }

  async save() {
    this.saveBtn.disabled = true;
    this.dialog.setAttribute('aria-busy', 'true');
    this.say('Saving…');
    try {
      if (this.hooks.dirty() && !(await this.hooks.save())) { this.say('Your changes could not be saved first: see the status line.', 'error'); return; }
      const results = await frrApi.saveConfigs(this.hooks.topology, false);
      const saved = results.filter((r) => r.changed).map((r) => r.node);
      await this.hooks.reload(); // the editor takes the document the server now has
      for (const name of saved) { const v = this.views.get(name); if (v) v.check = null; }
      this.dialog.close();
      this.hooks.status(saved.length ? `Saved the running configs of ${saved.join(', ')} into the topology.` : 'Nothing changed: nothing saved.', 'ok');
    } catch (e) {
      this.say(`Not saved: ${e.message}`, 'error');
      this.saveBtn.disabled = false;
    } finally {
      this.dialog.removeAttribute('aria-busy');
    }
  }
}
