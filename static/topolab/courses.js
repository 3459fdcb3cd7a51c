// The courses pages: /courses/ (your courses, join by code, create) and /courses/<id>/ (roster and
// enrolment for its instructors). The one-time passwords of a CSV enrolment live in this page only:
// the "download" CSV is made here from the API's answer; the server never keeps them.
import {coursesApi} from './api.js';
import {ago, el, notice, pickFile} from './dom.js';

const $ = (id) => document.getElementById(id);

const message = (text, level = 'ok', extra = null) => notice($('list-message'), text, level, extra);

// The live grid (course-grid.js) fetches its rows again when the roster changes here.
const rosterChanged = () => document.dispatchEvent(new CustomEvent('topolab:roster-changed'));

const when = (iso) => iso ? el('span', {title: new Date(iso).toLocaleString()}, ago(iso)) : '';

// --- /courses/ ------------------------------------------------------------------------------------

async function loadList() {
  const tbody = document.querySelector('#courses tbody');
  try {
    const list = await coursesApi.list();
    if (!list.length) {
      tbody.replaceChildren(el('tr', {class: 'placeholder'}, el('td', {colspan: 4, class: 'muted'}, 'No courses yet: join one with the code your instructor gave you.')));
      return;
    }
    tbody.replaceChildren(...list.map((c) => el('tr', {dataset: {id: c.id}},
      el('td', {}, el('a', {href: `/courses/${c.id}/`, class: 'row-name'}, c.name)),
      el('td', {}, c.instructors.join(', ')),
      el('td', {}, el('span', {class: 'badge'}, c.role)),
      el('td', {}, when(c.joined)))));
  } catch (e) {
    tbody.replaceChildren(el('tr', {}, el('td', {colspan: 4, class: 'error'}, `Could not load your courses: ${e.message}`)));
  }
}

function listPage() {
  $('join-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      const answer = await coursesApi.join($('join-code').value);
      $('join-code').value = '';
      message(answer.joined ? `You joined ${answer.course.name}.` : `You are already in ${answer.course.name}.`);
      await loadList();
    } catch (err) {
      message(`Not joined: ${err.message}`, 'error');
    }
  });
  const create = $('course-create-form');
  if (create) {
    create.addEventListener('submit', async (e) => {
      e.preventDefault();
      try {
        const course = await coursesApi.create($('course-name').value.trim());
        location.href = `/courses/${course.id}/`;
      } catch (err) {
        message(`Not created: ${err.message}`, 'error');
      }
    });
  }
  loadList();
}

// --- /courses/<id>/ -------------------------------------------------------------------------------

function csvCell(value) {
  const text = String(value ?? '');
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

function passwordsLink(created, courseName) {
  const lines = ['username,password', ...created.map((c) => `${csvCell(c.username)},${csvCell(c.password)}`)];
  const url = URL.createObjectURL(new Blob([lines.join('\r\n') + '\r\n'], {type: 'text/csv'}));
  return el('a', {class: 'btn btn-primary', href: url, download: `${courseName}-passwords.csv`}, 'Download passwords (CSV)');
}

function coursePage(config) {
  let course = null;

  async function load() {
    try {
      course = await coursesApi.get(config.id);
    } catch (e) {
      message(`Could not load the course: ${e.message}`, 'error');
      return;
    }
    $('course-instructors').textContent = `Taught by ${course.instructors.join(', ')}`;
    if (config.role !== 'instructor') {
      $('my-joined').replaceChildren(when(course.joined));
      return;
    }
    $('join-code-value').textContent = course.join_code;
    const tbody = document.querySelector('#roster tbody');
    tbody.replaceChildren(...course.members.map((m) => el('tr', {dataset: {username: m.username}},
      el('td', {}, m.username), el('td', {}, m.name), el('td', {}, m.email),
      el('td', {}, el('span', {class: 'badge'}, m.role)), el('td', {}, when(m.joined)),
      el('td', {class: 'actions'}, m.role === 'student'
        ? [el('button', {class: 'btn btn-small', onclick: () => addInstructor(m.username)}, 'Make instructor'), ' ',
          el('button', {class: 'btn btn-small btn-danger-quiet', onclick: () => remove(m.username)}, 'Remove')]
        : el('button', {class: 'btn btn-small btn-danger-quiet', onclick: () => removeInstructor(m.username)},
          'Remove as instructor')))));
  }

  async function addInstructor(username) {
    try {
      await coursesApi.addInstructor(config.id, username);
      message(`${username} is an instructor of this course.`);
      $('instructor-username').value = '';
      await load();
      rosterChanged();
    } catch (err) { message(`${username} was not made an instructor: ${err.message}`, 'error'); }
  }

  async function removeInstructor(username) {
    const self = username === config.username;
    if (!window.confirm(self ? 'Stop teaching this course? You will no longer see it.'
      : `Take ${username} off this course's instructors?`)) return;
    try {
      const answer = await coursesApi.removeInstructor(config.id, username);
      if (self || answer.detail) { window.location.assign('/courses/'); return; }
      message(`${username} no longer teaches this course.`);
      await load();
      rosterChanged();
    } catch (err) { message(`Not removed: ${err.message}`, 'error'); }
  }

  if (config.role !== 'instructor') { load(); return; }

  function remove(username) {
    const dialog = $('remove-dialog');
    $('remove-title').textContent = `Remove ${username} from the course?`;
    dialog.addEventListener('close', async () => {
      if (dialog.returnValue !== 'ok') return;
      const mode = dialog.querySelector('input[name="remove-mode"]:checked').value;
      try {
        const report = await coursesApi.remove(config.id, username, mode);
        message(`${username} was removed${report.deleted.length ? `; deleted: ${report.deleted.join(', ')}` : ''}.`);
      } catch (err) {
        const left = err.body && Array.isArray(err.body.left) ? err.body.left : [];
        message(left.length ? `${username} is still enrolled: some of their work is not gone yet.` : `Not removed: ${err.message}`, 'error',
          left.length ? el('ul', {}, left.map((t) => el('li', {}, el('code', {}, t.name), ' ', t.reason))) : null);
      }
      await load();
      rosterChanged();
    }, {once: true});
    dialog.showModal();
  }

  $('regenerate-code').addEventListener('click', async () => {
    try {
      $('join-code-value').textContent = (await coursesApi.regenerate(config.id)).join_code;
      message('A new join code is set; the old one no longer works.');
    } catch (err) { message(`No new code: ${err.message}`, 'error'); }
  });

  $('instructor-form').addEventListener('submit', (e) => {
    e.preventDefault();
    addInstructor($('instructor-username').value.trim());
  });

  $('enrol-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const username = $('enrol-username').value.trim();
    try {
      await coursesApi.enrol(config.id, username);
      $('enrol-username').value = '';
      message(`${username} is enrolled.`);
      await load();
      rosterChanged();
    } catch (err) { message(`Not enrolled: ${err.message}`, 'error'); }
  });

  async function sendCsv(blob, filename) {
    const box = $('csv-report');
    box.replaceChildren(el('p', {class: 'muted'}, 'Enrolling…'));
    let report;
    try {
      report = await coursesApi.enrolCsv(config.id, blob, filename);
    } catch (err) {
      box.replaceChildren(el('p', {class: 'alert'}, `Nothing was enrolled: ${err.message}`));
      return;
    }
    const parts = [el('p', {}, `${report.created.length} account(s) created, ${report.enrolled.length} existing account(s) enrolled, ${report.problems.length} line(s) refused.`)];
    if (report.created.length) {
      parts.push(el('p', {class: 'hint'}, 'The one-time passwords are shown this once: download them now.'),
        el('table', {class: 'topologies'}, el('thead', {}, el('tr', {}, el('th', {}, 'Line'), el('th', {}, 'Username'), el('th', {}, 'One-time password'))),
          el('tbody', {}, report.created.map((c) => el('tr', {}, el('td', {}, c.line), el('td', {}, c.username), el('td', {}, el('code', {}, c.password)))))),
        el('p', {}, passwordsLink(report.created, course ? course.slug : 'course')));
    }
    if (report.enrolled.length) parts.push(el('ul', {}, report.enrolled.map((r) => el('li', {}, `line ${r.line}: ${r.username}: ${r.note}`))));
    if (report.problems.length) parts.push(el('ul', {class: 'problems'}, report.problems.map((p) => el('li', {class: 'error'}, `line ${p.line}: ${p.message}`))));
    box.replaceChildren(el('div', {class: 'csv-report'}, parts));
    $('csv-text').value = '';
    await load();
    rosterChanged();
  }

  $('csv-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const text = $('csv-text').value;
    if (!text.trim()) { message('Paste some rows first, or upload a file.', 'error'); return; }
    sendCsv(new Blob([text], {type: 'text/csv'}), 'pasted.csv');
  });
  pickFile($('csv-file-label'), $('csv-file'), (file) => sendCsv(file, file.name));

  load();
}

const configEl = $('course-config');
if (configEl) {
  coursePage(JSON.parse(configEl.textContent));
} else {
  listPage();
}
