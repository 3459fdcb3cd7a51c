// The assignment page (/courses/<course>/assignments/<id>/ and .../new/).
// Instructors: title, Markdown instructions with the server's preview, the template (one of their topologies
// or an uploaded file), due date, grading, the checks table (a command typed as a line, split into argv
// here), Save (every problem beside its field, from its JSON path), Publish/Unpublish, "Try on my lab"
// and the class's results. Students: the instructions (the server's sanitized HTML) and Start/Open/Reset.
import {api, assignmentsApi, checksApi} from './api.js';
import {ago, el, notice, pickFile} from './dom.js';
import {dueText, renderRun, scoreText} from './instructions-panel.js';
import {assignmentUrl, studentActions} from './course-assignments.js';

const $ = (id) => document.getElementById(id);
const config = JSON.parse($('assignment-config').textContent);
const message = (text, level = 'ok', extra = null) => notice($('page-message'), text, level, extra);
const EXPECTS = [['exit0', 'exit status 0'], ['match', 'output matches'], ['no_match', 'output does not match']];

// --- a command line <-> argv -----------------------------------------------------------------------

// Split a line as a POSIX shell splits words (no expansion): 'single' quotes keep everything, "double"
// quotes honour \" \\ \$ \`, a backslash outside quotes keeps the next character. {argv, error}.
export function splitCommand(line) {
  const argv = [];
  let word = null, i = 0;
  const add = (ch) => { word = (word ?? '') + ch; };
  while (i < line.length) {
    const ch = line[i];
    if (ch === "'") {
      const end = line.indexOf("'", i + 1);
      if (end < 0) return {argv, error: 'a single quote is not closed'};
      word = (word ?? '') + line.slice(i + 1, end);
      i = end + 1;
    } else if (ch === '"') {
      let j = i + 1;
      word = word ?? '';
      for (;;) {
        if (j >= line.length) return {argv, error: 'a double quote is not closed'};
        const c = line[j];
        if (c === '"') break;
        if (c === '\\' && j + 1 < line.length && '"\\$`'.includes(line[j + 1])) { word += line[j + 1]; j += 2; continue; }
        word += c; j += 1;
      }
      i = j + 1;
    } else if (ch === '\\') {
      if (i + 1 >= line.length) return {argv, error: 'the line ends with a lone backslash'};
      add(line[i + 1]);
      i += 2;
    } else if (/\s/.test(ch)) {
      if (word !== null) { argv.push(word); word = null; }
      i += 1;
    } else {
      add(ch);
      i += 1;
    }
  }
  if (word !== null) argv.push(word);
  return {argv, error: ''};
}

// The line that splits back into argv (words with spaces or quotes go in single quotes).
export function joinCommand(argv) {
  return (argv || []).map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${String(a).replaceAll("'", "'\\''")}'`)).join(' ');
}

// --- a due date: the local date-time input <-> ISO 8601 with the browser's offset -----------------------

function pad(n) { return String(n).padStart(2, '0'); }

export function localToIso(value) {
  if (!value) return null;
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) return value; // the server says what is wrong with it
  const offset = -d.getTimezoneOffset();
  const sign = offset >= 0 ? '+' : '-';
  const abs = Math.abs(offset);
  const seconds = value.length === 16 ? ':00' : '';
  return `${value}${seconds}${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}

function isoToLocal(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

// --- the instructor's editor -----------------------------------------------------------------------

function instructorPage() {
  const state = {id: config.id, assignment: null, template: null, rows: [], previewSeq: 0};
  const fieldErrors = {title: $('a-title-err'), instructions: $('a-instructions-err'), due: $('a-due-err'), grading: $('a-grading-err')};
  const inputs = {title: $('a-title'), instructions: $('a-instructions'), due: $('a-due'), grading: $('a-grading')};
  $('a-due-zone').textContent = `Time zone: ${Intl.DateTimeFormat().resolvedOptions().timeZone || 'this computer\'s'}`;

  // -- template --
  function nodeNames() { return ((state.template && state.template.nodes) || []).map((n) => n.name); }

  function showTemplate() {
    const t = state.template;
    const box = $('a-template-summary');
    if (!t) { box.replaceChildren(el('span', {class: 'muted'}, 'No template yet.')); return; }
    const names = nodeNames();
    box.replaceChildren(el('strong', {}, t.name || '(no name)'),
      ` · ${names.length} node${names.length === 1 ? '' : 's'}, ${(t.links || []).length} link${(t.links || []).length === 1 ? '' : 's'}`,
      names.length ? el('span', {class: 'muted'}, `: ${names.join(', ')}`) : null);
    renderChecks();
  }

  function setTemplate(doc, origin) {
    state.template = doc;
    $('a-template-err').replaceChildren();
    showTemplate();
    if (origin) message(`Template set from ${origin}; save to keep it.`, 'info');
  }

  async function loadPicker() {
    const pick = $('a-template-pick');
    try {
      const list = await api.list();
      pick.replaceChildren(el('option', {value: ''}, list.length ? 'Choose one…' : 'You have no topologies'),
        ...list.map((t) => el('option', {value: t.id}, `${t.name} (${t.node_count} node${t.node_count === 1 ? '' : 's'})`)));
    } catch (e) {
      pick.replaceChildren(el('option', {value: ''}, `Unavailable: ${e.message}`));
    }
  }

  $('a-template-pick').addEventListener('change', async (e) => {
    const id = e.target.value;
    if (!id) return;
    try {
      const t = await api.get(id);
      setTemplate(t.document, `your topology ${t.name}`);
    } catch (err) { message(`That topology could not be read: ${err.message}`, 'error'); }
  });
  pickFile($('a-template-file-label'), $('a-template-file'), async (file) => {
    let doc;
    try {
      doc = JSON.parse(await file.text());
    } catch (err) {
      $('a-template-err').replaceChildren(el('li', {class: 'error'}, `${file.name} is not JSON: ${err.message}`));
      return;
    }
    if (!doc || typeof doc !== 'object' || Array.isArray(doc)) {
      $('a-template-err').replaceChildren(el('li', {class: 'error'}, `${file.name} is not a topolab/v1 document (an object)`));
      return;
    }
    $('a-template-pick').value = '';
    setTemplate(doc, `the file ${file.name}`);
  });

  // -- instructions preview (the server renders: the same HTML the students get) --
  let previewTimer = null;
  async function preview() {
    const seq = ++state.previewSeq;
    const text = inputs.instructions.value;
    if (!text.trim()) { $('a-preview').replaceChildren(el('p', {class: 'muted'}, 'Nothing to preview.')); return; }
    try {
      const answer = await assignmentsApi.markdown(text);
      if (seq !== state.previewSeq) return;
      $('a-preview').innerHTML = answer.html; // sanitized by the server (topology/markdown.py)
      fieldErrors.instructions.textContent = '';
    } catch (e) {
      if (seq !== state.previewSeq) return;
      fieldErrors.instructions.textContent = e.errors.length ? e.errors.map((p) => p.message).join('; ') : `No preview: ${e.message}`;
    }
  }
  inputs.instructions.addEventListener('input', () => { clearTimeout(previewTimer); previewTimer = setTimeout(preview, 300); });

  // -- checks --
  function rowFromCheck(c) {
    return {node: c.node || '', command: joinCommand(c.argv), expect: c.expect || 'exit0', pattern: c.pattern || '',
      description: c.description || '', points: c.points ?? 1, hidden: !!c.hidden, timeout: c.timeout ?? 10,
      where: c.in || 'node'};
  }

  function checkFromRow(r) {
    const {argv} = splitCommand(r.command);
    const c = {node: r.node, argv, expect: r.expect, description: r.description, hidden: r.hidden};
    if (r.expect !== 'exit0' || r.pattern) c.pattern = r.pattern;
    c.points = r.points === '' ? r.points : Number(r.points);
    c.timeout = r.timeout === '' ? r.timeout : Number(r.timeout);
    if (r.where === 'probe') c.in = 'probe';
    return c;
  }

  function currentChecks() { return state.rows.map(checkFromRow); }

  function renderArgv(cell, command) {
    const {argv, error} = splitCommand(command);
    cell.replaceChildren(...(error ? [el('span', {class: 'field-error'}, error)]
      : argv.map((a) => el('code', {title: 'one argument'}, a === '' ? '""' : a))));
  }

  function renderChecks() {
    const tbody = $('checks').querySelector('tbody');
    const names = nodeNames();
    tbody.replaceChildren();
    if (!state.rows.length) {
      tbody.append(el('tr', {class: 'placeholder'}, el('td', {colspan: 9, class: 'muted'}, 'No checks: students get no score. "+ add a check" makes one.')));
      return;
    }
    state.rows.forEach((r, i) => {
      const err = (field) => el('span', {class: 'field-error', dataset: {path: `checks[${i}].${field}`}});
      const bind = (input, field, cast = (v) => v) => {
        input.addEventListener(input.type === 'checkbox' || input.tagName === 'SELECT' ? 'change' : 'input',
          () => { r[field] = cast(input.type === 'checkbox' ? input.checked : input.value); });
        return input;
      };
      const options = names.includes(r.node) || !r.node ? names : [r.node, ...names];
      const node = bind(el('select', {'aria-label': `Check ${i + 1} node`, 'data-field': 'node'},
        el('option', {value: ''}, names.length ? 'node…' : 'set a template'),
        options.map((n) => el('option', {value: n, selected: n === r.node || undefined}, n))), 'node');
      // Where it runs: the node itself, or a probe (Topolab's own tools in the node's network namespace:
      // a student who replaced ping or ip in their node cannot fake its result; it sees the network only).
      const where = bind(el('select', {'aria-label': `Check ${i + 1} runs in`, 'data-field': 'in', class: 'c-where',
        title: 'In a probe: Topolab\'s own tools in the node\'s network, which the student cannot tamper with (network state only: no files, processes or vtysh)'},
        el('option', {value: 'node', selected: r.where !== 'probe' || undefined}, 'in the node'),
        el('option', {value: 'probe', selected: r.where === 'probe' || undefined}, 'in a probe')), 'where');
      const argvBox = el('div', {class: 'argv', 'aria-label': 'the arguments'});
      const command = el('input', {value: r.command, placeholder: 'ping -c1 -W1 192.168.11.2', spellcheck: 'false',
        'aria-label': `Check ${i + 1} command`, 'data-field': 'command'});
      command.addEventListener('input', () => { r.command = command.value; renderArgv(argvBox, command.value); });
      renderArgv(argvBox, r.command);
      const pattern = bind(el('input', {value: r.pattern, placeholder: r.expect === 'exit0' ? '(not used)' : 'regular expression',
        spellcheck: 'false', disabled: r.expect === 'exit0' || undefined, 'aria-label': `Check ${i + 1} pattern`, 'data-field': 'pattern'}), 'pattern');
      const expect = el('select', {'aria-label': `Check ${i + 1} expect`, 'data-field': 'expect'},
        EXPECTS.map(([v, label]) => el('option', {value: v, selected: v === r.expect || undefined}, label)));
      expect.addEventListener('change', () => {
        r.expect = expect.value;
        pattern.disabled = r.expect === 'exit0';
        pattern.placeholder = pattern.disabled ? '(not used)' : 'regular expression';
        if (pattern.disabled) { pattern.value = ''; r.pattern = ''; }
      });
      const description = bind(el('input', {value: r.description, maxlength: 200, placeholder: 'c1 reaches c2', 'aria-label': `Check ${i + 1} description`, 'data-field': 'description'}), 'description');
      const points = bind(el('input', {type: 'number', min: 0, max: 1000, step: 1, value: r.points, 'aria-label': `Check ${i + 1} points`, 'data-field': 'points'}), 'points');
      const hidden = bind(el('input', {type: 'checkbox', checked: r.hidden || undefined, 'aria-label': `Check ${i + 1} hidden from students until the due date`,
        title: 'Hidden from students until the due date', 'data-field': 'hidden'}), 'hidden');
      const timeout = bind(el('input', {type: 'number', min: 1, max: 60, step: 1, value: r.timeout, 'aria-label': `Check ${i + 1} timeout in seconds`, 'data-field': 'timeout'}), 'timeout');
      const remove = el('button', {type: 'button', class: 'btn btn-small btn-quiet', title: 'Remove this check', 'aria-label': `Remove check ${i + 1}`,
        onclick: () => { state.rows.splice(i, 1); renderChecks(); }}, '✕');
      tbody.append(
        el('tr', {class: 'check-row', dataset: {index: i}},
          el('td', {class: 'c-node'}, node, err('node'), where, err('in')),
          el('td', {class: 'c-command'}, command, argvBox, err('argv')),
          el('td', {class: 'c-expect'}, expect, err('expect')),
          el('td', {}, pattern, err('pattern')),
          el('td', {}, description, err('description')),
          el('td', {class: 'c-points'}, points, err('points')),
          el('td', {class: 'c-hidden'}, hidden, err('hidden')),
          el('td', {class: 'c-timeout'}, timeout, err('timeout')),
          el('td', {class: 'c-remove'}, remove)),
        el('tr', {class: 'problem-row', hidden: true, dataset: {index: i}}, el('td', {colspan: 9}, el('span', {class: 'field-error', dataset: {path: `checks[${i}]`}}))));
    });
  }

  $('a-add-check').addEventListener('click', () => {
    state.rows.push({node: nodeNames()[0] || '', command: '', expect: 'exit0', pattern: '', description: '', points: 1, hidden: false, timeout: 10,
      where: 'node'});
    renderChecks();
    const last = $('checks').querySelectorAll('tr.check-row');
    last[last.length - 1].querySelector('[data-field=command]').focus();
  });

  // -- problems beside their fields --
  function clearProblems() {
    for (const e of Object.values(fieldErrors)) e.textContent = '';
    for (const i of Object.values(inputs)) { i.classList.remove('invalid'); i.removeAttribute('aria-invalid'); }
    $('a-template-err').replaceChildren();
    $('a-checks-err').textContent = '';
    $('checks').querySelectorAll('.field-error[data-path]').forEach((e) => { e.textContent = ''; });
    $('checks').querySelectorAll('.invalid').forEach((e) => e.classList.remove('invalid'));
    $('checks').querySelectorAll('tr.problem-row').forEach((r) => { r.hidden = true; });
  }

  // Each problem where its JSON path points; what has no place of its own goes in the page's notice. How many were placed elsewhere.
  function showProblems(problems) {
    clearProblems();
    const loose = [];
    for (const p of problems) {
      const path = p.path || '';
      const top = path.split(/[.[]/)[0];
      const check = path.match(/^checks\[(\d+)\](?:\.(\w+))?/);
      if (fieldErrors[top] && path === top) {
        fieldErrors[top].textContent = [fieldErrors[top].textContent, p.message].filter(Boolean).join('; ');
        inputs[top].classList.add('invalid');
        inputs[top].setAttribute('aria-invalid', 'true');
      } else if (top === 'template') {
        const where = path.replace(/^template\.?/, '');
        $('a-template-err').append(el('li', {class: 'error'}, where ? el('code', {}, where) : null, where ? ' ' : null, p.message));
      } else if (check) {
        const [, index, field] = check;
        const key = field ? `checks[${index}].${field}` : `checks[${index}]`;
        const slot = $('checks').querySelector(`.field-error[data-path="${CSS.escape(key)}"]`)
          || $('checks').querySelector(`.field-error[data-path="checks[${index}]"]`);
        if (!slot) { loose.push(p); continue; }
        slot.textContent = [slot.textContent, field && !slot.dataset.path.endsWith(field) ? `${field}: ${p.message}` : p.message].filter(Boolean).join('; ');
        const row = slot.closest('tr');
        if (row.classList.contains('problem-row')) row.hidden = false;
        const input = field && row.querySelector(`[data-field="${field === 'argv' ? 'command' : field}"]`);
        if (input) input.classList.add('invalid');
      } else if (top === 'checks') {
        $('a-checks-err').textContent = [$('a-checks-err').textContent, p.message].filter(Boolean).join('; ');
      } else {
        loose.push(p);
      }
    }
    return loose;
  }

  function refused(verb, e) {
    if (e.errors && e.errors.length) {
      const loose = showProblems(e.errors);
      message(`${verb}: ${e.errors.length} problem${e.errors.length === 1 ? '' : 's'}, shown beside ${e.errors.length === 1 ? 'its field' : 'their fields'}.`, 'error',
        loose.length ? el('ul', {class: 'problems'}, loose.map((p) => el('li', {class: 'error'}, p.path ? el('code', {}, p.path) : null, ' ', p.message))) : null);
    } else {
      message(`${verb}: ${e.message}`, 'error');
    }
  }

  // -- load, save, publish --
  function body() {
    return {title: inputs.title.value.trim(), instructions: inputs.instructions.value, template: state.template,
      checks: currentChecks(), due: localToIso(inputs.due.value), grading: inputs.grading.value};
  }

  function showState(a) {
    const published = !!(a && a.published);
    const badge = $('a-state');
    badge.hidden = !a;
    badge.dataset.state = published ? 'published' : 'draft';
    badge.textContent = published ? 'published' : 'draft';
    badge.title = published ? `Published ${new Date(a.published).toLocaleString()}` : 'Students do not see it yet';
    $('a-publish').hidden = !a || published;
    $('a-unpublish').hidden = !a || !published;
    $('a-due-head').textContent = a && a.due ? dueText(a.due) : '';
    $('a-save-hint').textContent = a ? `${a.started ?? 0} student${a.started === 1 ? '' : 's'} started it.` : 'Saved as a draft: students see it once you publish it.';
    $('a-results-box').hidden = !a;
  }

  function fill(a) {
    state.assignment = a;
    inputs.title.value = a.title || '';
    inputs.instructions.value = a.instructions || '';
    inputs.due.value = isoToLocal(a.due);
    inputs.grading.value = a.grading || 'best';
    if (a.template !== undefined) state.template = a.template;
    if (Array.isArray(a.checks)) state.rows = a.checks.map(rowFromCheck);
    $('a-heading').textContent = a.title;
    document.title = `${a.title} · ${config.courseName} · Topolab`;
    showTemplate();
    showState(a);
    if (a.instructions_html !== undefined) $('a-preview').innerHTML = a.instructions_html; // sanitized by the server
    else preview();
  }

  async function save() {
    const b = body();
    const broken = state.rows.map((r, i) => [i, splitCommand(r.command).error]).filter(([, e]) => e);
    if (broken.length) {
      showProblems(broken.map(([i, e]) => ({path: `checks[${i}].argv`, message: e})));
      message('Not saved: a command line cannot be split into arguments (see the checks).', 'error');
      return false;
    }
    $('a-save').disabled = true;
    try {
      const a = state.id ? await assignmentsApi.put(state.id, b) : await assignmentsApi.create(config.course, b);
      clearProblems();
      const first = !state.id;
      state.id = a.id;
      if (first) history.replaceState(null, '', assignmentUrl(config.course, a.id));
      fill(a);
      loadResults();
      message(first ? 'Saved as a draft. Publish it when students may start it.' : 'Saved.');
      return true;
    } catch (e) {
      refused('Not saved', e);
      return false;
    } finally {
      $('a-save').disabled = false;
    }
  }

  async function publish(on) {
    try {
      const answer = on ? await assignmentsApi.publish(state.id) : await assignmentsApi.unpublish(state.id);
      const a = answer && answer.id ? answer : await assignmentsApi.get(state.id);
      state.assignment = a;
      showState(a);
      message(on ? 'Published: the course\'s students can start it now.'
        : `Unpublished: students no longer see it${answer && answer.detail ? ` (${answer.detail})` : '; copies already started are kept'}.`);
    } catch (e) { message(`${on ? 'Not published' : 'Not unpublished'}: ${e.message}`, 'error'); }
  }

  $('a-save').addEventListener('click', save);
  $('assignment-form').addEventListener('submit', (e) => { e.preventDefault(); save(); });
  $('a-publish').addEventListener('click', () => publish(true));
  $('a-unpublish').addEventListener('click', () => publish(false));
  document.addEventListener('keydown', (e) => { if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === 's') { e.preventDefault(); save(); } });

  // -- try on my lab: the instructor's own copy, deployed, runs the checks as they are in the table --
  $('a-try').addEventListener('click', async () => {
    const box = $('try-results');
    if (!state.id) { box.replaceChildren(el('p', {class: 'alert'}, 'Save the assignment first: "Try on my lab" runs the checks in your own copy of it.')); return; }
    if (!state.rows.length) { box.replaceChildren(el('p', {class: 'alert'}, 'Add a check first.')); return; }
    $('a-try').disabled = true;
    box.replaceChildren(el('p', {class: 'muted'}, 'Finding your copy…'));
    try {
      const {topology, created} = await assignmentsApi.start(state.id);
      const lab = await api.lab(topology.id);
      if (!['running', 'degraded'].includes(lab.state) || lab.busy) {
        box.replaceChildren(el('div', {class: 'notice notice-info'}, el('p', {},
          `${created ? 'Your copy was just made: ' : ''}your copy `, el('strong', {}, topology.name),
          ` is ${lab.state === 'stopped' ? 'not running' : lab.state}. Deploy it, then try again: `,
          el('a', {href: `/topologies/${topology.id}/`, target: '_blank', rel: 'noopener', id: 'try-open-copy'}, `open ${topology.name}`), '.')));
        return;
      }
      box.replaceChildren(el('p', {class: 'muted'}, `Running ${state.rows.length} check${state.rows.length === 1 ? '' : 's'} in ${topology.name}…`));
      const run = await checksApi.tryChecks(state.id, currentChecks());
      clearProblems();
      box.replaceChildren(el('p', {class: 'hint'}, `On your copy ${topology.name} (a trial: never a grade):`), renderRun(run));
    } catch (e) {
      if (e.errors && e.errors.length) showProblems(e.errors);
      box.replaceChildren(el('p', {class: 'alert'}, `Not tried: ${e.message}`));
    } finally {
      $('a-try').disabled = false;
    }
  });

  // -- the class's results --
  async function loadResults() {
    if (!state.id) return;
    $('a-csv').href = checksApi.csvUrl(state.id);
    const tbody = $('results').querySelector('tbody');
    let rows;
    try {
      const answer = await checksApi.results(state.id);
      rows = Array.isArray(answer) ? answer : (answer && (answer.rows || answer.students || answer.results)) || [];
    } catch (e) {
      tbody.replaceChildren(el('tr', {}, el('td', {colspan: 4, class: 'error'}, `Could not load the results: ${e.message}`)));
      return;
    }
    if (!rows.length) { tbody.replaceChildren(el('tr', {class: 'placeholder'}, el('td', {colspan: 4, class: 'muted'}, 'No students in this course yet.'))); return; }
    tbody.replaceChildren(...rows.map((r) => {
      const copy = r.copy && typeof r.copy === 'object' ? r.copy.id : (r.copy ?? r.copy_id ?? r.topology);
      const latest = r.latest || r.latest_run || r.run || null;
      return el('tr', {dataset: {username: r.username}},
        el('td', {}, el('strong', {}, r.username), r.name ? el('span', {class: 'muted'}, ` ${r.name}`) : null),
        el('td', {}, copy ? el('a', {href: `/topologies/${copy}/`, title: 'Their topology, read-only'}, 'open (read-only)') : el('span', {class: 'muted'}, 'not started')),
        el('td', {class: 'num'}, r.grade ? scoreText(r.grade) : '—'),
        el('td', {}, latest ? `${latest.state === 'failed' ? 'could not run' : scoreText(latest)}${latest.finished ? ` · ${ago(latest.finished)}` : ''}` : '—'));
    }));
  }

  $('a-rerun').addEventListener('click', async () => {
    try {
      const answer = await checksApi.rerun(state.id);
      const skipped = answer.skipped || [];
      message(`Checks queued for ${answer.queued.length} student${answer.queued.length === 1 ? '' : 's'}${skipped.length ? `; ${skipped.length} skipped` : ''}.`, 'ok',
        skipped.length ? el('ul', {}, skipped.map((s) => el('li', {}, `${s.username}: ${s.reason}`))) : null);
      setTimeout(loadResults, 3000);
    } catch (e) { message(`Not re-run: ${e.message}`, 'error'); }
  });

  // -- start --
  loadPicker();
  if (state.id) {
    assignmentsApi.get(state.id).then((a) => { fill(a); loadResults(); }).catch((e) => message(`Could not load the assignment: ${e.message}`, 'error'));
  } else {
    showState(null);
    renderChecks();
    preview();
  }
}

// --- a student's view ------------------------------------------------------------------------------

function studentPage() {
  async function load() {
    let a;
    try {
      a = await assignmentsApi.get(config.id);
    } catch (e) {
      message(`Could not load the assignment: ${e.message}`, 'error');
      return;
    }
    $('a-heading').textContent = a.title;
    $('a-meta').textContent = [a.due ? dueText(a.due) : 'No due date', a.grading ? `your grade: the ${a.grading} result${a.due ? ' before the due date' : ''} of "Check my work"` : '']
      .filter(Boolean).join(' · ');
    // The server renders the Markdown and sanitizes it: the one HTML put in as HTML.
    if (a.instructions_html) $('a-instructions-html').innerHTML = a.instructions_html;
    else $('a-instructions-html').replaceChildren(el('p', {class: 'muted'}, 'No instructions.'));
    const checks = a.checks || [];
    $('a-student-checks').replaceChildren(...(checks.length ? checks.map((c) => el('li', {}, c.description, el('span', {class: 'muted'}, ` · ${c.points} pt${c.points === 1 ? '' : 's'}`)))
      : [el('li', {class: 'muted'}, 'No checks.')]));
    $('a-student-actions').replaceChildren(...studentActions(a, {message, changed: load}));
  }
  load();
}

if (config.role === 'instructor') instructorPage(); else studentPage();
