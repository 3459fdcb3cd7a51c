// The course page's assignments section (templates/topology/_course_assignments.html): for its instructors
// every assignment with its state (draft or published), due date, checks and how many students started it;
// for a student each published assignment with Start / Open my copy / Reset, its due date and their grade.
// studentActions() is shared with the assignment page (assignment.js).
import {assignmentsApi, checksApi} from './api.js';
import {el, notice} from './dom.js';
import {dueText, scoreText} from './instructions-panel.js';

const $ = (id) => document.getElementById(id);

// The list's answer: a list, or an object holding one (whichever the API chose).
export function listOf(answer) {
  if (Array.isArray(answer)) return answer;
  return (answer && (answer.assignments || answer.items)) || [];
}

// The caller's copy of an assignment ({id, name, lab}) or null: the API calls it `topology` (`copy` before).
export function copyOf(a) { return (a && (a.topology !== undefined ? a.topology : a.copy)) || null; }

export function assignmentUrl(courseId, id) { return `/courses/${courseId}/assignments/${id}/`; }

// Ask before a reset (it destroys the lab): resolves true when confirmed in the page's #reset-dialog.
export function confirmReset(title) {
  const dialog = $('reset-dialog');
  $('reset-title').textContent = `Reset your copy of ${title}?`;
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), {once: true});
    dialog.returnValue = '';
    dialog.showModal();
  });
}

// The buttons a student has for one assignment: Start (no copy yet), or Open my copy and Reset.
// hooks: {message(text, level), changed()}.
export function studentActions(a, hooks) {
  const copy = copyOf(a);
  const start = async (button) => {
    button.disabled = true;
    try {
      const answer = await assignmentsApi.start(a.id);
      location.href = `/topologies/${answer.topology.id}/`;
    } catch (e) {
      button.disabled = false;
      hooks.message(`Not started: ${e.message}`, 'error');
    }
  };
  const reset = async () => {
    if (!(await confirmReset(a.title))) return;
    try {
      const answer = await assignmentsApi.reset(a.id);
      hooks.message(answer && answer.detail ? `Reset: ${answer.detail}.` : `Your copy of ${a.title} is the template again.`);
      hooks.changed();
    } catch (e) {
      hooks.message(`Not reset: ${e.message}`, 'error');
    }
  };
  if (!copy) {
    const b = el('button', {class: 'btn btn-small btn-primary', 'data-action': 'start', onclick: () => start(b)}, 'Start');
    return [b];
  }
  return [el('a', {class: 'btn btn-small btn-primary', href: `/topologies/${copy.id}/`, 'data-action': 'open'}, 'Open my copy'),
    el('button', {class: 'btn btn-small btn-danger-quiet', 'data-action': 'reset', onclick: reset}, 'Reset')];
}

// A copy's lab state, as the topologies list shows it.
function labBadge(copy) {
  const state = copy && (copy.lab_state || copy.state || (copy.lab && copy.lab.state)) || 'stopped';
  return el('span', {class: 'badge', dataset: {state}}, state === 'stopped' ? 'not running' : state);
}

async function gradeOf(a) {
  if (a.grade !== undefined) return a.grade;
  const copy = copyOf(a);
  if (!copy) return null;
  try { return (await checksApi.runs(copy.id)).grade; } catch { return null; }
}

function section(root) {
  const courseId = Number(root.dataset.course);
  const instructor = root.dataset.role === 'instructor';
  const tbody = root.querySelector('#assignments tbody');
  const columns = instructor ? 6 : 5;
  const message = (text, level = 'ok') => notice($('assignments-message'), text, level);
  const placeholder = (text, cls = 'muted') => tbody.replaceChildren(el('tr', {class: 'placeholder'}, el('td', {colspan: columns, class: cls}, text)));

  async function load() {
    let list;
    try {
      list = listOf(await assignmentsApi.list(courseId));
    } catch (e) {
      placeholder(`Could not load the assignments: ${e.message}`, 'error');
      return;
    }
    if (!list.length) {
      placeholder(instructor ? 'No assignments yet: "New assignment" makes one from one of your topologies.' : 'No assignments yet.');
      return;
    }
    const title = (a) => el('a', {class: 'row-name', href: assignmentUrl(courseId, a.id)}, a.title);
    const due = (a) => el('span', {title: a.due ? new Date(a.due).toLocaleString() : ''}, a.due ? dueText(a.due) : 'no due date');
    if (instructor) {
      tbody.replaceChildren(...list.map((a) => {
        const state = a.published ? 'published' : 'draft';
        return el('tr', {dataset: {id: a.id, title: a.title}},
          el('td', {}, title(a)),
          el('td', {}, el('span', {class: 'badge state-badge', dataset: {state}}, state)),
          el('td', {}, due(a)),
          el('td', {}, `${a.grading || 'best'} result`),
          el('td', {class: 'num'}, String(a.started ?? a.started_count ?? 0)),
          el('td', {class: 'actions'}, el('a', {class: 'btn btn-small', href: assignmentUrl(courseId, a.id)}, 'Edit')));
      }));
      return;
    }
    const rows = list.map((a) => {
      const copy = copyOf(a);
      const grade = el('td', {class: 'grade'}, copy ? '…' : '—');
      const row = el('tr', {dataset: {id: a.id, title: a.title}},
        el('td', {}, title(a)), el('td', {}, due(a)),
        el('td', {}, copy ? [el('a', {href: `/topologies/${copy.id}/`}, copy.name), ' ', labBadge(copy)] : el('span', {class: 'muted'}, 'not started')),
        grade,
        el('td', {class: 'actions'}, studentActions(a, {message, changed: load})));
      gradeOf(a).then((g) => { grade.textContent = g ? scoreText(g) : (copy ? 'not checked yet' : '—'); });
      return row;
    });
    tbody.replaceChildren(...rows);
  }

  load();
  if (instructor) {
    // The Class work grid (course-grid.js) says when a student starts: count again, once per burst.
    let pending = null;
    document.addEventListener('topolab:copies-changed', () => {
      clearTimeout(pending);
      pending = setTimeout(load, 300);
    });
  }
}

const root = $('course-assignments');
if (root) section(root);
