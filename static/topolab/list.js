// The topologies page: the user's topologies with their labs' states, kept live by polling.
import {api, ApiError, request} from './api.js';
import {ago, el, notice, pickFile} from './dom.js';

const $ = (id) => document.getElementById(id);
const tbody = document.querySelector('#topologies tbody');
const POLL_MS = 3000;
let rows = [];
let lastJson = '';

const message = (text, level = 'ok', extra = null) => notice($('list-message'), text, level, extra);

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
      el('a', {class: 'btn btn-small', href: api.exportUrl(t.id), download: `${t.name}.json`}, 'Export'),
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
  const name = $('create-name').value.trim();
  try {
    const t = await api.create({format: 'topolab/v1', name, nodes: [], links: []});
    location.href = `/topologies/${t.id}/`;
  } catch (err) {
    message(`Not created: ${err.message}`, 'error', err.errors.length > 1 ? problemList(err.errors) : null);
  }
});

// A containerlab or Kathará lab (a .clab.yml, a lab.conf, or an archive of the lab's folder) is converted by
// the server (POST topologies/import); each problem and warning names the lab's file and line.
function issueList(issues, level) {
  return el('ul', {class: 'problems'}, issues.map((p) => el('li', {class: level},
    el('code', {}, p.line ? `${p.file}:${p.line}` : p.file), p.path ? ` ${p.path}` : '', ' ', p.message)));
}

async function importForeign(file) {
  const form = new FormData();
  form.append('file', file);
  try {
    const answer = await request('POST', 'topologies/import', form);
    const t = answer.topology;
    await refresh();
    const w = answer.warnings.length;
    const from = {clab: 'containerlab', kathara: 'Kathará', topolab: 'topolab/v1'}[answer.format] || answer.format;
    message(`Imported ${t.name} from ${from}${w ? ` with ${w} warning${w > 1 ? 's' : ''}` : ''}.`, 'ok',
      el('div', {}, el('a', {href: `/topologies/${t.id}/`, class: 'btn btn-small btn-primary'}, 'Open it'),
        w ? issueList(answer.warnings, 'warning') : null));
  } catch (err) {
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
    if (err instanceof ApiError && err.errors.length) {
      message(`${file.name} has ${err.errors.length} error${err.errors.length > 1 ? 's' : ''}; nothing was saved.`, 'error', problemList(err.errors));
    } else message(`Not imported: ${err.message}`, 'error');
  }
});

// --- rename, duplicate ------------------------------------------------------------------------

function rename(t) {
  const dialog = $('rename-dialog');
  $('rename-name').value = t.name;
  $('rename-error').textContent = '';
  dialog.returnValue = '';
  dialog.showModal();
  $('rename-name').select();
  dialog.onclose = async () => {
    if (dialog.returnValue !== 'ok') return;
    const name = $('rename-name').value.trim();
    if (name === t.name) return;
    try {
      const full = await api.get(t.id);
      await api.put(t.id, {...full.document, name});
      message(`Renamed ${t.name} to ${name}.`);
      await refresh();
    } catch (err) {
      message(`Not renamed: ${err.message}`, 'error');
    }
  };
}

async function duplicate(t) {
  try {
    const full = await api.get(t.id);
    const names = new Set(rows.map((r) => r.name));
    let name = `${t.name}-copy`.slice(0, 40);
    for (let k = 2; names.has(name); k++) name = `${t.name.slice(0, 33)}-copy-${k}`;
    const copy = await api.create({...full.document, name});
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
