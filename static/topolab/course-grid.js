// The instructor's live grid on /courses/<id>/: one row per student, one column per assignment, each cell its
// copy's lab state (a symbol and a word, never colour alone), its latest grade and what can be done about it.
// Live over /ws/courses/<id>/ (topology/coursefeed.py documents the messages): a snapshot of the whole grid,
// then one absolute cell at a time. No polling: if the socket drops, it reconnects with back-off, saying
// "reconnecting"; after a 4403 (signed out, or no longer teaching the course) it stops and says why.
import {request} from './api.js';
import {el, notice, svgIcon} from './dom.js';
import {LiveSocket} from './live.js';

const $ = (id) => document.getElementById(id);

// What each status looks like: a symbol (hidden from screen readers: the word says it) and the badge's state.
export const LOOK = {
  'not started': {symbol: '○', badge: 'none'},
  editing: {symbol: '✎', badge: 'editing'},
  deploying: {symbol: '◐', badge: 'deploying'},
  running: {symbol: '●', badge: 'running'},
  degraded: {symbol: '▲', badge: 'degraded'},
  failed: {symbol: '✖', badge: 'failed'},
  destroying: {symbol: '◑', badge: 'destroying'},
};
const STOPPABLE = new Set(['deploying', 'running', 'degraded', 'failed']);

export function scoreOf(grade) {
  if (!grade) return null;
  return `${grade.score}/${grade.max_score}`;
}

export function consoleUrl(topology, node) {
  return `/topologies/${topology}/nodes/${encodeURIComponent(node)}/console/?mode=watch`;
}

// The live socket: calls onSnapshot(grid), onCell(msg), onState('open'|'reconnecting'|'closed', why).
export class CourseFeed extends LiveSocket {
  constructor(courseId, handlers) {
    super(`/ws/courses/${courseId}/`, handlers);
  }

  received(msg) {
    if (msg.type === 'snapshot') { this.h.onSnapshot(msg.grid); this.h.onState('open'); }
    else if (msg.type === 'cell') this.h.onCell(msg);
  }

  dropped() { this.h.onState('reconnecting'); }

  ended(gone) {
    this.h.onState('closed', (gone && gone.message) || 'You cannot follow this course any more. Sign in again.');
  }
}

// An eye, drawn as the editor's icons are.
function eyeIcon() {
  return svgIcon(['path', {d: 'M1.5 8s2.4-4.5 6.5-4.5S14.5 8 14.5 8s-2.4 4.5-6.5 4.5S1.5 8 1.5 8z'}],
    ['circle', {cx: '8', cy: '8', r: '2'}]);
}

// A console menu floats over the page (position: fixed), placed under its button when it opens: the grid's
// scrolling box would clip it otherwise (above it, near the window's bottom). One is open at a time; a click elsewhere, Escape or a scroll closes it.
function placeMenu(event) {
  const menu = event.currentTarget;
  if (!menu.open) return;
  for (const other of document.querySelectorAll('.cell-menu[open]')) if (other !== menu) other.open = false;
  const box = menu.querySelector('summary').getBoundingClientRect();
  const list = menu.querySelector('.cell-menu-list');
  list.style.left = `${Math.round(box.left)}px`;
  const below = box.bottom + 2 + list.offsetHeight <= window.innerHeight;  // else it opens upwards
  list.style.top = `${Math.round(below ? box.bottom + 2 : Math.max(0, box.top - 2 - list.offsetHeight))}px`;
}

function closeMenus(except = null) {
  for (const menu of document.querySelectorAll('.cell-menu[open]')) if (!except || !menu.contains(except)) menu.open = false;
}
document.addEventListener('click', (e) => closeMenus(e.target));
document.addEventListener('keydown', (e) => { if (e.key === 'Escape') closeMenus(); });
window.addEventListener('scroll', () => closeMenus(), true);

function confirm(title, text) {
  const dialog = $('grid-confirm');
  $('grid-confirm-title').textContent = title;
  $('grid-confirm-text').textContent = text;
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), {once: true});
    dialog.returnValue = '';
    dialog.showModal();
  });
}

export function courseGrid(config) {
  const table = $('grid');
  const say = (text, level = 'ok', extra = null) => notice($('grid-message'), text, level, extra);
  let grid = null;
  const tds = new Map();  // "username|assignment id" -> its <td>
  const key = (username, assignment) => `${username}|${assignment}`;

  function cellContent(student, assignment, cell) {
    const look = LOOK[cell.status] || {symbol: '?', badge: 'none'};
    const score = scoreOf(cell.grade);
    const parts = [
      el('div', {class: 'cell-line'},
        el('span', {class: 'badge cell-state', dataset: {state: look.badge}, title: cell.reason || null},
          el('span', {'aria-hidden': 'true'}, look.symbol), ' ', cell.status),
        el('span', {class: score ? 'cell-score' : 'cell-score muted', title: score ? null : 'no check run yet'}, score || '—'),
        cell.grade && cell.grade.late ? el('span', {class: 'cell-late', title: cell.grade.counted ? 'finished after the due date'
          : 'finished after the due date: not counted'}, 'late') : null,
        cell.checking ? el('span', {class: 'cell-checking'}, 'checking…') : null),
    ];
    if (cell.topology) {
      const actions = el('div', {class: 'cell-actions'},
        el('a', {class: 'btn btn-small btn-quiet', href: `/topologies/${cell.topology}/`, title: `Open ${student.username}'s ${cell.name} (read-only)`}, 'Open'));
      if (cell.nodes.length) {
        actions.append(el('details', {class: 'cell-menu', ontoggle: placeMenu},
          el('summary', {class: 'btn btn-small btn-quiet', title: 'Watch a console of a running node (read-only)'}, eyeIcon(), 'Watch ▾'),
          el('ul', {class: 'cell-menu-list'}, cell.nodes.map((node) => el('li', {},
            el('a', {href: consoleUrl(cell.topology, node), target: '_blank', rel: 'noopener'}, node))))));
      }
      if (STOPPABLE.has(cell.status)) {
        actions.append(el('button', {type: 'button', class: 'btn btn-small btn-danger-quiet cell-destroy',
          onclick: () => destroyOne(student, assignment, cell)}, 'Destroy'));
      }
      parts.push(actions);
    }
    return parts;
  }

  function paintCell(student, assignment, cell) {
    const td = tds.get(key(student.username, assignment.id));
    if (!td) return false;
    td.dataset.status = cell.status;
    td.replaceChildren(...cellContent(student, assignment, cell));
    return true;
  }

  function render() {
    tds.clear();
    const head = el('tr', {}, el('th', {scope: 'col'}, 'Student'), grid.assignments.map((a) => el('th', {scope: 'col', dataset: {assignment: a.id}},
      a.title, a.published ? null : el('span', {class: 'badge grid-draft'}, 'draft'))));
    table.tHead.replaceChildren(head);
    const body = table.tBodies[0];
    if (!grid.students.length || !grid.assignments.length) {
      body.replaceChildren(el('tr', {class: 'placeholder'}, el('td', {colspan: grid.assignments.length + 1, class: 'muted'},
        !grid.students.length ? 'No students yet: enrol some above.' : 'No assignments yet.')));
    } else {
      body.replaceChildren(...grid.students.map((s) => {
        const row = el('tr', {dataset: {username: s.username}},
          el('th', {scope: 'row', class: 'grid-student'}, el('span', {class: 'row-name'}, s.username), s.name ? el('div', {class: 'muted small'}, s.name) : null));
        for (const a of grid.assignments) {
          const td = el('td', {class: 'grid-cell', dataset: {student: s.username, assignment: a.id}});
          tds.set(key(s.username, a.id), td);
          row.append(td);
          paintCell(s, a, grid.cells[s.username][String(a.id)]);
        }
        return row;
      }));
    }
    applyFilter();
    updateDestroyAll();
  }

  function liveLabs() {
    if (!grid) return [];
    const labs = [];
    for (const s of grid.students) {
      for (const a of grid.assignments) {
        const cell = grid.cells[s.username][String(a.id)];
        if (cell && cell.topology && STOPPABLE.has(cell.status)) labs.push({student: s, assignment: a, cell});
      }
    }
    return labs;
  }

  function updateDestroyAll() {
    const count = liveLabs().length;
    const button = $('destroy-all');
    button.disabled = count === 0;
    button.title = count ? `${count} lab(s) are not stopped` : 'No lab of this course is running';
  }

  function applyFilter() {
    const text = $('grid-filter').value.trim().toLowerCase();
    for (const row of table.tBodies[0].rows) {
      if (!row.dataset.username) continue;
      row.hidden = Boolean(text) && !row.textContent.toLowerCase().includes(text);
    }
  }

  async function refetch() {
    try {
      grid = await request('GET', `courses/${config.id}/grid`);
      render();
    } catch (err) {
      say(`Could not load the class's work: ${err.message}`, 'error');
    }
  }

  function onCell(msg) {
    if (!grid) return;
    const student = grid.students.find((s) => s.username === msg.student);
    const assignment = grid.assignments.find((a) => a.id === msg.assignment);
    if (!student || !assignment) { refetch(); return; }  // enrolled or made after the snapshot
    const before = grid.cells[student.username][String(assignment.id)];
    grid.cells[student.username][String(assignment.id)] = msg.cell;
    paintCell(student, assignment, msg.cell);
    updateDestroyAll();
    if ((before && before.status) !== msg.cell.status && [before && before.status, msg.cell.status].includes('not started')) {
      // A student started (or their copy went): the assignments table's "Started" count follows.
      document.dispatchEvent(new CustomEvent('topolab:copies-changed', {detail: {assignment: assignment.id}}));
    }
  }

  function onState(state, why) {
    const live = $('grid-live');
    live.dataset.state = state;
    live.textContent = {open: 'live', reconnecting: 'reconnecting…', closed: 'not live'}[state] || state;
    if (state === 'closed') say(why, 'error');
  }

  async function destroyOne(student, assignment, cell) {
    const ok = await confirm(`Destroy ${student.username}'s lab?`,
      `Their lab of ${assignment.title} (${cell.name}) stops: every node's container is removed. Their topology stays.`);
    if (!ok) return;
    try {
      await request('POST', `courses/${config.id}/students/${encodeURIComponent(student.username)}/topologies/${cell.topology}/destroy`);
      say(`${student.username}'s lab of ${assignment.title} is being destroyed.`);
    } catch (err) {
      say(`Not destroyed: ${err.message}`, 'error');
    }
  }

  $('destroy-all').addEventListener('click', async () => {
    const count = liveLabs().length;
    const ok = await confirm('Destroy all labs of this course?',
      `${count} lab(s) of your students are not stopped: each is destroyed (its containers removed). Their topologies stay.`);
    if (!ok) return;
    try {
      const answer = await request('POST', `courses/${config.id}/labs/destroy`);
      const skipped = answer.skipped || [];
      say(`${answer.queued.length} lab(s) are being destroyed${skipped.length ? `; ${skipped.length} could not be` : ''}.`,
        skipped.length ? 'error' : 'ok',
        skipped.length ? el('ul', {}, skipped.map((s) => el('li', {}, `${s.username} (${s.name}): ${s.reason}`))) : null);
    } catch (err) {
      say(`Nothing was destroyed: ${err.message}`, 'error');
    }
  });
  $('grid-filter').addEventListener('input', applyFilter);
  // courses.js enrols and removes students: the grid's rows follow.
  document.addEventListener('topolab:roster-changed', refetch);

  const feed = new CourseFeed(config.id, {onSnapshot: (g) => { grid = g; render(); }, onCell, onState});
  return {feed, get grid() { return grid; }};
}

const configEl = $('course-config');
if (configEl && $('grid')) {
  window.topolab = Object.assign(window.topolab || {}, {courseGrid: courseGrid(JSON.parse(configEl.textContent))});
}
