// Export (issue 15), on the list page and in the editor: a button that opens a short list of formats, each a
// download of the saved topology: topolab/v1 JSON, containerlab (.clab.yml, or a zip with the files its binds
// name) or Kathará (a zip of lab.conf, .startup scripts and folders), from GET /topologies/{id}/export?format=.
// What the other tool does not carry (a position, a node renamed, a variable set by a script) comes in the
// answer's X-Topolab-Warnings header and is shown after the download, each with the document's path.
// A disclosure like the account menu (account-menu.js): Enter or Space on the button opens it on its first
// format, the arrows (and Home, End) move, Escape closes it and gives the button the focus back, and so do a
// click elsewhere and the focus leaving it.
import {el, notice} from './dom.js';

export const FORMATS = [
  {format: 'topolab', label: 'Topolab JSON', ext: '.json', hint: 'the topology whole, to import here again'},
  {format: 'clab', label: 'containerlab', ext: '.clab.yml', hint: 'a topology for containerlab deploy'},
  {format: 'kathara', label: 'Kathará', ext: '.zip', hint: 'lab.conf, .startup scripts and folders'},
];
const WORDS = Object.fromEntries(FORMATS.map((f) => [f.format, f.label]));
let made = 0;
// The open list's closer, if one is open: one listener for the whole page (the list page makes its menus
// again each time its rows change), closing it on a click anywhere else.
let openOne = null;
document.addEventListener('pointerdown', (e) => { if (openOne && !openOne.root.contains(e.target)) openOne.close(); });
// The list is placed by the viewport (position: fixed), so that no table or toolbar that clips its overflow
// cuts it: a scroll or a resize, which would leave it behind its button, closes it.
// (Only a scroll of the page or of a box holding the button: a log scrolling elsewhere leaves it open.)
window.addEventListener('resize', () => { if (openOne) openOne.close(); });
window.addEventListener('scroll', (e) => {
  if (openOne && (e.target === document || (e.target instanceof Node && e.target.contains(openOne.root)))) openOne.close();
}, {capture: true, passive: true});

// Put `items` under `toggle`, its right edges aligned (above it when there is no room below).
function place(items, toggle) {
  const at = toggle.getBoundingClientRect();
  const box = items.getBoundingClientRect();
  const below = at.bottom + 6 + box.height <= window.innerHeight;
  items.style.setProperty('top', `${Math.max(4, below ? at.bottom + 6 : at.top - 6 - box.height)}px`);
  items.style.setProperty('left', `${Math.max(4, Math.min(at.right - box.width, window.innerWidth - box.width - 4))}px`);
}

// The file name a Content-Disposition header gives (or null).
function filenameOf(header) {
  const m = /filename="([^"]+)"/.exec(header || '');
  return m ? m[1] : null;
}

// Download the topology in `format`: {filename, warnings}; an Error saying why not.
export async function download(id, format) {
  const query = format === 'topolab' ? '' : `?format=${encodeURIComponent(format)}`;
  let response;
  try {
    response = await fetch(`/api/v1/topologies/${id}/export${query}`, {credentials: 'same-origin'});
  } catch {
    throw new Error('the server cannot be reached; check your connection and try again');
  }
  if (!response.ok) {
    const body = await response.json().catch(() => ({}));
    throw new Error(body.detail || `the server answered ${response.status}`);
  }
  const blob = await response.blob();
  let warnings = [];
  try { warnings = JSON.parse(response.headers.get('X-Topolab-Warnings') || '[]'); } catch { warnings = []; }
  const filename = filenameOf(response.headers.get('Content-Disposition')) || `topology-${id}${format === 'topolab' ? '.json' : '.zip'}`;
  const url = URL.createObjectURL(blob);
  const a = el('a', {href: url, download: filename, hidden: true});
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
  return {filename, warnings};
}

// What an export did, for a notice: [sentence, level, a list of the warnings or null].
export function reportOf(format, {filename, warnings}) {
  if (!warnings.length) return [`Downloaded ${filename}.`, 'ok', null];
  const list = el('ul', {class: 'problems export-losses'}, warnings.map((w) => el('li', {class: 'warning'},
    w.path ? el('code', {}, w.path) : null, w.path ? ' ' : '', w.message)));
  const n = warnings.length;
  return [`Downloaded ${filename}. ${WORDS[format]} does not carry all of it (${n} thing${n === 1 ? '' : 's'}):`, 'ok', list];
}

// A report panel of the module's own (the editor has no notice area): under the header, until closed.
function ownReport() {
  let box = document.getElementById('export-report');
  if (!box) {
    box = el('div', {id: 'export-report', class: 'export-report', role: 'status', 'aria-live': 'polite'});
    document.body.append(box);
  }
  return (text, level, extra) => notice(box, text, level, extra);
}

// The Export button and its list, for topology `id`. `unsaved()`: whether the page holds changes the download
// would not have (then the list says so); `report(text, level, extra)`: where to say what happened (a notice
// box; the module's own panel when left out). `label`: the button's text.
export function exportMenu(id, {unsaved = () => false, report = null, label = 'Export', small = false, focusKey = null} = {}) {
  const say = report || ownReport();
  const listId = `export-list-${id}-${++made}`;
  const toggle = el('button', {type: 'button', class: `btn${small ? ' btn-small' : ''} export-toggle`, 'aria-haspopup': 'true',
    'aria-expanded': 'false', 'aria-controls': listId, 'data-focus-key': focusKey,
    title: 'Download the saved topology: Topolab JSON, containerlab or Kathará'}, label, el('span', {class: 'caret', 'aria-hidden': 'true'}, ' ▾'));
  const note = el('p', {class: 'export-note', hidden: true}, 'Unsaved changes are not in the download: save first (Ctrl-S).');
  const entries = FORMATS.map((f) => el('button', {type: 'button', class: 'export-item', dataset: {format: f.format}},
    el('span', {class: 'export-label'}, f.label, el('span', {class: 'export-ext'}, ` ${f.ext}`)),
    el('span', {class: 'export-hint'}, f.hint)));
  const items = el('div', {class: 'export-items', id: listId, hidden: true}, note, ...entries);
  const root = el('span', {class: 'export-menu'}, toggle, items);

  const setOpen = (open, focus = null) => {
    if (open && openOne && openOne.root !== root) openOne.close();
    items.hidden = !open;
    toggle.setAttribute('aria-expanded', String(open));
    openOne = open ? {root, close: () => setOpen(false)} : (openOne && openOne.root === root ? null : openOne);
    if (open) { note.hidden = !unsaved(); place(items, toggle); }
    if (focus === 'first') entries[0].focus();
    else if (focus === 'last') entries.at(-1).focus();
    else if (focus === 'toggle') toggle.focus();
  };
  // A click from the keyboard (Enter, Space: detail 0) opens on the first format; a pointer's leaves the focus.
  toggle.addEventListener('click', (e) => setOpen(items.hidden, items.hidden && e.detail === 0 ? 'first' : null));
  toggle.addEventListener('keydown', (e) => {
    if (e.key === 'ArrowDown') { e.preventDefault(); setOpen(true, 'first'); }
    else if (e.key === 'ArrowUp') { e.preventDefault(); setOpen(true, 'last'); }
  });
  root.addEventListener('keydown', (e) => {
    if (items.hidden) return;
    if (e.key === 'Escape') { e.preventDefault(); e.stopPropagation(); setOpen(false, 'toggle'); return; }
    const at = entries.indexOf(e.target);
    if (at < 0) return;  // the toggle's own arrows are above
    const to = {ArrowDown: (at + 1) % entries.length, ArrowUp: (at + entries.length - 1) % entries.length, Home: 0, End: entries.length - 1}[e.key];
    if (to === undefined) return;
    e.preventDefault();
    entries[to].focus();
  });
  root.addEventListener('focusout', (e) => { if (!items.hidden && e.relatedTarget && !root.contains(e.relatedTarget)) setOpen(false); });
  for (const entry of entries) {
    entry.addEventListener('click', async () => {
      const format = entry.dataset.format;
      setOpen(false, 'toggle');
      toggle.setAttribute('aria-busy', 'true');
      try {
        say(...reportOf(format, await download(id, format)));
      } catch (e) {
        say(`Not exported (${WORDS[format]}): ${e.message}`, 'error');
      } finally {
        toggle.removeAttribute('aria-busy');
      }
    });
  }
  return root;
}
