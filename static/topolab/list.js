// The topologies page: the user's topologies with their labs' states, kept live by polling.
import {api, ApiError, request} from './api.js';
import {ago, el, notice, pickFile} from './dom.js';
import {exportMenu} from './export-menu.js';

const $ = (id) => document.getElementById(id);
const tbody = document.querySelector('#topologies tbody');
const POLL_MS = 3000;
let rows = [];
let lastJson = '';

const message = (text, level = 'ok', extra = null) => notice($('list-message'), text, level, extra);

// A topology's name as the server checks it (its pattern and the words of its error: topology/pages/views.py
// name_rule), so that the create and rename dialogs say the rule before the server has to.
const NAME = JSON.parse($('list-config').textContent).documentName;
const NAME_RE = new RegExp(NAME.pattern);

// What is wrong with a name, in the server's words ('' when nothing is).
function nameProblem(name) {
  if (!name) return `Give it a name: a name ${NAME.rule}.`;
  return NAME_RE.test(name) ? '' : `“${name}” ${NAME.rule}.`;
}

// Show (or clear, with '') what is wrong with a field, under it and on it.
function fieldError(input, box, text) {
  box.textContent = text;
  input.classList.toggle('invalid', !!text);
  if (text) input.setAttribute('aria-invalid', 'true'); else input.removeAttribute('aria-invalid');
}

// A server's refusal of a name (a 400 problem at the path "name"), or ''.
const nameRefusal = (err) => (err instanceof ApiError ? err.errors.find((p) => p.path === 'name')?.message || '' : '');

// A name like ``base`` that none of your topologies has: base-copy, base-copy-2... cut short to fit the rule.
function freeName(base) {
  const names = new Set(rows.map((r) => r.name));
  for (let k = 1; k < 1000; k++) {
    const tail = k === 1 ? '-copy' : `-copy-${k}`;
    for (let cut = base.length; cut > 0; cut--) {
      const name = base.slice(0, cut).replace(/-+$/, '') + tail;
      if (!NAME_RE.test(name)) continue;
      if (!names.has(name)) return name;
      break;
    }
  }
  return `${base}-copy`;
}

function problemList(errors) {
  return el('ul', {class: 'problems'}, errors.map((p) => el('li', {class: 'error'}, p.path ? el('code', {}, p.path) : null, ' ', p.message)));
}

const LAB_WORDS = {stopped: 'not running', deploying: 'deploying', running: 'running', degraded: 'degraded', failed: 'failed',
  destroying: 'destroying'};

function render() {
  const focused = document.activeElement && document.activeElement.dataset.focusKey;
  if (!rows.length) {
    tbody.replaceChildren(el('tr', {class: 'placeholder'}, el('td', {colspan: 6, class: 'muted'}, 'No topologies yet: create one above, or import a topolab/v1 file.')));
    return;
  }
  tbody.replaceChildren(...rows.map((t) => el('tr', {dataset: {id: t.id, name: t.name}},
    el('td', {}, el('a', {href: `/topologies/${t.id}/`, class: 'row-name', 'data-focus-key': `open-${t.id}`}, t.name),
      t.description ? el('div', {class: 'muted small'}, t.description.slice(0, 120)) : null),
    el('td', {class: 'num'}, t.node_count), el('td', {class: 'num'}, t.link_count),
    el('td', {}, el('span', {class: 'badge', 'data-state': t.lab.state, title: t.lab.reason || ''}, LAB_WORDS[t.lab.state] || t.lab.state)),
    el('td', {title: new Date(t.updated).toLocaleString()}, ago(t.updated)),
    el('td', {class: 'actions'},
      el('button', {class: 'btn btn-small', 'data-focus-key': `rename-${t.id}`, onclick: () => rename(t)}, 'Rename'),
      el('button', {class: 'btn btn-small', 'data-focus-key': `dup-${t.id}`, onclick: () => duplicate(t)}, 'Duplicate'),
      // Export ▾ (export-menu.js): topolab JSON, containerlab or Kathará; what each loses is said in the message box.
      exportMenu(t.id, {report: message, small: true, focusKey: `export-${t.id}`}),
      el('button', {class: 'btn btn-small btn-danger-quiet', 'data-focus-key': `del-${t.id}`, onclick: () => remove(t)}, 'Delete')))));
  if (focused) { const f = tbody.querySelector(`[data-focus-key="${focused}"]`); if (f) f.focus(); }
}

async function refresh() {
  try {
    const list = await api.list();
    const json = JSON.stringify(list);
    if (json !== lastJson) { lastJson = json; rows = list; render(); }
  } catch (e) {
    if (!rows.length) tbody.replaceChildren(el('tr', {}, el('td', {colspan: 6, class: 'error'}, `Could not load your topologies: ${e.message}`)));
  }
}

function poll() {
  setTimeout(async () => { if (!document.hidden) await refresh(); poll(); }, POLL_MS);
}

// --- create, import --------------------------------------------------------------------------

$('create-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const input = $('create-name');
  const name = input.value.trim();
  const bad = nameProblem(name);
  fieldError(input, $('create-error'), bad);
  if (bad) { input.focus(); return; }
  try {
    const t = await api.create({format: 'topolab/v1', name, nodes: [], links: []});
    location.href = `/topologies/${t.id}/`;
  } catch (err) {
    if (nameRefusal(err)) { fieldError(input, $('create-error'), nameRefusal(err)); input.focus(); return; }
    message(`Not created: ${err.message}`, 'error', err.errors.length > 1 ? problemList(err.errors) : null);
  }
});
$('create-name').addEventListener('input', () => fieldError($('create-name'), $('create-error'), ''));

// A containerlab or Kathará lab (a .clab.yml, a lab.conf, or an archive of the lab's folder) is converted by
// the server (POST topologies/import); each problem and warning names the lab's file and line.
function issueList(issues, level) {
  return el('ul', {class: 'problems'}, issues.map((p) => el('li', {class: level},
    el('code', {}, p.line ? `${p.file}:${p.line}` : p.file), p.path ? ` ${p.path}` : '', ' ', p.message)));
}

// ``replace``: overwrite your topology of the same name; ``name``: save it under this name (the server's import
// takes both, for any format: the duplicate dialog below uses it for topolab/v1 files too).
async function importForeign(file, {replace = false, name = ''} = {}) {
  const form = new FormData();
  form.append('file', file);
  if (replace) form.append('replace', 'true');
  if (name) form.append('name', name);
  try {
    const answer = await request('POST', 'topologies/import', form);
    const t = answer.topology;
    await refresh();
    const w = answer.warnings.length;
    const from = {clab: 'containerlab', kathara: 'Kathará', topolab: 'topolab/v1'}[answer.format] || answer.format;
    message(`${replace ? 'Replaced' : 'Imported'} ${t.name} from ${from}${w ? ` with ${w} warning${w > 1 ? 's' : ''}` : ''}.`, 'ok',
      el('div', {}, el('a', {href: `/topologies/${t.id}/`, class: 'btn btn-small btn-primary'}, 'Open it'),
        w ? issueList(answer.warnings, 'warning') : null));
  } catch (err) {
    if (!replace && !name && await offeredChoice(file, err)) return;
    if (err instanceof ApiError && err.errors.length) {
      message(`${file.name} has ${err.errors.length} error${err.errors.length > 1 ? 's' : ''}; nothing was saved.`, 'error',
        issueList(err.errors, 'error'));
    } else message(`Not imported: ${err.message}`, 'error');
  }
}

pickFile($('import-label'), $('import-file'), async (file) => {
  if (!/\.json$/i.test(file.name)) { await importForeign(file); return; }
  let doc;
  try {
    doc = JSON.parse(await file.text());
  } catch (err) {
    message(`${file.name} is not a JSON file: ${err.message}. Nothing was saved.`, 'error');
    return;
  }
  try {
    const t = await api.create(doc);
    await refresh();
    const w = (t.warnings || []).length;
    message(`Imported ${t.name}${w ? ` with ${w} warning${w > 1 ? 's' : ''}` : ''}.`, 'ok',
      el('a', {href: `/topologies/${t.id}/`, class: 'btn btn-small btn-primary'}, 'Open it'));
  } catch (err) {
    if (await offeredChoice(file, err)) return;
    if (err instanceof ApiError && err.errors.length) {
      message(`${file.name} has ${err.errors.length} error${err.errors.length > 1 ? 's' : ''}; nothing was saved.`, 'error', problemList(err.errors));
    } else message(`Not imported: ${err.message}`, 'error');
  }
});

// --- an import whose name you have already: replace that topology, or import a copy -------------------------

// The topology of yours whose name the server refused the import for (its one problem, at "name", names it), or null.
async function takenBy(err) {
  if (!(err instanceof ApiError) || err.status !== 400 || err.errors.length !== 1 || err.errors[0].path !== 'name') return null;
  await refresh();
  return rows.find((r) => err.errors[0].message.includes(`'${r.name}'`)) || null;
}

// Ask what to do when the import was refused for a name you have (true: asked; the choice is carried out).
// Replacing a topology whose lab runs is what the API does with it: the document is saved, the lab keeps
// running as it was deployed (the editor then lists the changes not applied), nothing is destroyed.
async function offeredChoice(file, err) {
  const existing = await takenBy(err);
  if (!existing) return false;
  const dialog = $('taken-dialog');
  const copy = freeName(existing.name);
  const running = existing.lab.state !== 'stopped';
  $('taken-title').textContent = `You already have a topology named ${existing.name}`;
  $('taken-text').textContent = `Replace it with the topology in ${file.name}, or import that as a copy named ${copy}.`;
  $('taken-lab').textContent = running
    ? `Its lab is ${LAB_WORDS[existing.lab.state] || existing.lab.state}. Replacing saves the new document and does not touch the lab: `
      + 'it keeps running as it was deployed, and the new document applies at the next deploy (or with Apply changes… in the editor).'
    : 'Replacing overwrites its document; its lab is not running.';
  dialog.returnValue = '';
  dialog.showModal();
  $('taken-cancel').focus();
  dialog.onclose = async () => {
    if (dialog.returnValue === 'replace') await importForeign(file, {replace: true});
    else if (dialog.returnValue === 'copy') await importForeign(file, {name: copy});
    else message(`Not imported: you already have ${existing.name}.`, 'info');
  };
  return true;
}

// --- rename, duplicate ------------------------------------------------------------------------

let renaming = null;  // the topology the rename dialog is open on

function rename(t) {
  renaming = t;
  $('rename-name').value = t.name;
  fieldError($('rename-name'), $('rename-error'), '');
  $('rename-ok').disabled = false;
  $('rename-dialog').showModal();
  $('rename-name').select();
}

// Enter in the field submits (the form's only submit button is Rename); a refusal keeps the dialog open.
$('rename-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const t = renaming;
  const input = $('rename-name');
  const name = input.value.trim();
  if (!t || $('rename-ok').disabled) return;
  if (name === t.name) { $('rename-dialog').close(); return; }
  const bad = nameProblem(name);
  fieldError(input, $('rename-error'), bad);
  if (bad) { input.focus(); return; }
  $('rename-ok').disabled = true;
  try {
    const full = await api.get(t.id);
    await api.put(t.id, {...full.document, name});
    $('rename-dialog').close();
    message(`Renamed ${t.name} to ${name}.`);
    await refresh();
  } catch (err) {
    fieldError(input, $('rename-error'), nameRefusal(err) || `Not renamed: ${err.message}`);
    input.focus();
  } finally {
    $('rename-ok').disabled = false;
  }
});
$('rename-cancel').addEventListener('click', () => $('rename-dialog').close());
$('rename-name').addEventListener('input', () => fieldError($('rename-name'), $('rename-error'), ''));

async function duplicate(t) {
  try {
    const full = await api.get(t.id);
    const copy = await api.create({...full.document, name: freeName(t.name)});
    message(`Duplicated ${t.name} as ${copy.name}.`);
    await refresh();
  } catch (err) {
    message(`Not duplicated: ${err.message}`, 'error');
  }
}

// --- delete (a running lab is destroyed first) ---------------------------------------------------

function remove(t) {
  const dialog = $('confirm-dialog');
  const running = t.lab.state !== 'stopped';
  $('confirm-title').textContent = `Delete ${t.name}?`;
  $('confirm-text').textContent = running
    ? `Its lab is ${LAB_WORDS[t.lab.state]}: it will be destroyed first, then the topology deleted. This cannot be undone.`
    : 'The topology is deleted for good. Export it first if you may want it back.';
  $('confirm-ok').textContent = running ? 'Destroy and delete' : 'Delete';
  $('confirm-progress').hidden = true;
  dialog.returnValue = '';
  dialog.showModal();
  $('confirm-cancel').focus();
  dialog.onclose = async () => {
    if (dialog.returnValue !== 'ok') return;
    try {
      if (running) await destroyAndWait(t);
      await api.remove(t.id);
      message(`Deleted ${t.name}.`);
    } catch (err) {
      message(`Not deleted: ${err.message}`, 'error');
    }
    await refresh();
  };
}

async function destroyAndWait(t) {
  message(`Destroying the lab of ${t.name}…`, 'info', el('progress', {'aria-label': 'Destroying'}));
  try {
    await api.destroy(t.id);
  } catch (err) {
    if (err.status !== 409) throw err; // 409: an operation runs; wait for it below
  }
  const deadline = Date.now() + 5 * 60 * 1000;
  for (;;) {
    const lab = await api.lab(t.id);
    if (lab.state === 'stopped' && !lab.busy) return;
    if (!lab.busy && lab.state !== 'destroying') {
      try { await api.destroy(t.id); } catch (err) { if (err.status !== 409) throw err; }
    }
    if (Date.now() > deadline) throw new Error('the lab did not stop within 5 minutes');
    await new Promise((r) => setTimeout(r, 1000));
  }
}

refresh();
poll();
