// The instructions panel of an assignment copy, beside the editor's canvas and dock: the assignment's
// title, due date and instructions (the server's sanitized HTML, the only markup put in as HTML), the
// checks the student may see, and "Check my work" with each check's pass/fail and what it saw.
// It folds to a narrow strip and its width is dragged (or set with the arrow keys) on its left edge.
// renderRun() and dueText() are shared with the assignment page (assignment.js).
import {assignmentsApi, checksApi} from './api.js';
import {el} from './dom.js';

const WIDTH_KEY = 'topolab.assignWidth';
const FOLDED_KEY = 'topolab.assignFolded';
const MIN_WIDTH = 240, MAX_WIDTH = 720, DEFAULT_WIDTH = 340;

// "due Tue 8 Dec, 17:00 (in 3 days)" / "was due ... (2 h ago)"; '' without a due date.
export function dueText(iso) {
  if (!iso) return '';
  const t = new Date(iso);
  if (Number.isNaN(t.getTime())) return '';
  const when = t.toLocaleString(undefined, {weekday: 'short', day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit'});
  const s = (t.getTime() - Date.now()) / 1000;
  const span = (x) => (x < 3600 ? `${Math.max(1, Math.round(x / 60))} min` : x < 86400 ? `${Math.round(x / 3600)} h` : `${Math.round(x / 86400)} days`);
  return s >= 0 ? `due ${when} (in ${span(s)})` : `was due ${when} (${span(-s)} ago)`;
}

// A score as "3/5", with "late" when the run finished after the due date.
export function scoreText(g) {
  if (!g || g.max_score === undefined || g.max_score === null) return '';
  return `${g.score}/${g.max_score}${g.late ? ' late' : ''}`;
}

// One finished run: its score (or why it could not run) and each check's pass/fail with what was seen.
export function renderRun(run) {
  if (!run) return el('p', {class: 'muted'}, 'Not checked yet.');
  if (run.state === 'failed') {
    return el('div', {class: 'check-run'}, el('p', {class: 'alert'}, `The checks could not run: ${run.reason || 'unknown reason'}`));
  }
  if (run.state === 'running') return el('div', {class: 'check-run'}, el('p', {class: 'muted'}, 'Checking…'));
  const results = Array.isArray(run.results) ? run.results : [];
  const passed = results.filter((r) => r.passed).length;
  const shown = results.filter((r) => r.passed !== undefined).length;  // hidden ones before the due date: not told
  const head = el('p', {class: 'check-score'},
    el('strong', {}, `Score ${run.score}/${run.max_score}`),
    ` · ${passed} of ${shown} check${shown === 1 ? '' : 's'} passed`,
    shown < results.length ? ` (${results.length - shown} hidden until the due date)` : null,
    run.late ? el('span', {class: 'badge badge-late', title: 'This run finished after the due date'}, 'late') : null,
    run.trial ? el('span', {class: 'badge', title: 'A trial: never a grade'}, 'trial') : null,
    run.finished ? el('span', {class: 'muted'}, ` · ${new Date(run.finished).toLocaleTimeString()}`) : null);
  // A hidden check, before the due date, comes without "passed": it ran, and says nothing more.
  const masked = (r) => r.hidden && r.passed === undefined;
  const list = el('ol', {class: 'check-results'}, results.map((r) => el('li', {class: `check-result ${masked(r) ? 'masked' : r.passed ? 'pass' : 'fail'}`},
    el('div', {class: 'check-line'},
      el('span', {class: 'check-mark', 'aria-hidden': 'true'}, masked(r) ? '•' : r.passed ? '✓' : '✕'),
      el('span', {class: 'sr-only'}, masked(r) ? 'hidden until the due date: ' : r.passed ? 'passed: ' : 'failed: '),
      el('span', {class: 'check-desc'}, r.description || `check ${(r.index ?? 0) + 1}`),
      el('span', {class: 'check-points muted'}, masked(r) ? `?/${r.points}` : `${r.passed ? r.points : 0}/${r.points}`)),
    masked(r) ? el('div', {class: 'muted small'}, 'hidden until the due date') : null,
    r.node ? el('div', {class: 'muted small'}, `on ${r.node}${r.timed_out ? ' · timed out' : ''}`) : null,
    r.error ? el('div', {class: 'field-error'}, r.error) : null,
    r.seen ? el('pre', {class: 'check-seen'}, r.seen) : null)));
  return el('div', {class: 'check-run'}, head, list);
}

export class InstructionsPanel {
  // root: the panel's <aside>; editor: the .editor grid (its columns make room); hooks:
  // {topology, readonly, onResize(change): runs a change of the panel's width keeping the drawing in place}.
  constructor(root, editor, hooks) {
    this.root = root;
    this.editor = editor;
    this.hooks = hooks;
    this.labState = 'stopped';
    this.assignment = null;
    this.running = false;
    this.build();
    const width = Number(localStorage.getItem(WIDTH_KEY)) || DEFAULT_WIDTH;
    this.setWidth(width, false);
    this.fold(localStorage.getItem(FOLDED_KEY) === '1', false);
  }

  build() {
    this.toggle = el('button', {class: 'btn btn-small btn-quiet assign-toggle', id: 'assign-toggle', 'aria-controls': 'assign-body',
      onclick: () => this.fold(!this.folded)});
    this.title = el('h2', {class: 'assign-title', id: 'assign-title'}, 'Assignment');
    this.due = el('p', {class: 'assign-due muted', id: 'assign-due'});
    this.instructions = el('div', {class: 'assign-instructions markdown', id: 'assign-instructions'}, el('p', {class: 'muted'}, 'Loading…'));
    this.checks = el('ul', {class: 'assign-checks', id: 'assign-checks'});
    this.button = el('button', {class: 'btn btn-primary', id: 'check-my-work', onclick: () => this.check()},
      this.hooks.readonly ? 'Run the checks' : 'Check my work');
    this.buttonWhy = el('span', {class: 'hint', id: 'check-why'});
    this.result = el('div', {class: 'assign-result', id: 'check-result', 'aria-live': 'polite'});
    this.grade = el('p', {class: 'assign-grade', id: 'assign-grade'});
    this.resizer = el('div', {class: 'assign-resize', role: 'separator', 'aria-orientation': 'vertical', tabindex: '0',
      'aria-label': 'Instructions width (drag, or arrow keys)', title: 'Drag to resize'});
    this.body = el('div', {class: 'assign-body', id: 'assign-body'},
      this.due, this.instructions,
      el('h3', {class: 'pane-title'}, 'Checks'), this.checks,
      el('div', {class: 'row-buttons'}, this.button, this.buttonWhy),
      this.grade, this.result);
    this.root.replaceChildren(this.resizer, el('header', {class: 'assign-head'}, this.toggle, this.title), this.body);
    this.splitter();
  }

  splitter() {
    let startX = 0, startW = 0;
    const move = (e) => this.setWidth(startW + (startX - e.clientX));
    const up = () => { window.removeEventListener('pointermove', move); window.removeEventListener('pointerup', up); };
    this.resizer.addEventListener('pointerdown', (e) => {
      if (this.folded) return;
      e.preventDefault();
      startX = e.clientX; startW = this.width;
      window.addEventListener('pointermove', move);
      window.addEventListener('pointerup', up);
    });
    this.resizer.addEventListener('keydown', (e) => {
      const step = e.shiftKey ? 60 : 20;
      if (e.key === 'ArrowLeft') { e.preventDefault(); this.setWidth(this.width + step); }
      if (e.key === 'ArrowRight') { e.preventDefault(); this.setWidth(this.width - step); }
    });
  }

  setWidth(width, save = true) {
    this.width = Math.round(Math.min(MAX_WIDTH, Math.max(MIN_WIDTH, width)));
    // A custom property through the CSSOM (the policy refuses style attributes); assignment.css reads it.
    this.hooks.onResize(() => this.editor.style.setProperty('--assign-width', `${this.width}px`));
    this.resizer.setAttribute('aria-valuenow', String(this.width));
    if (save) localStorage.setItem(WIDTH_KEY, String(this.width));
  }

  fold(folded, save = true) {
    this.folded = folded;
    this.hooks.onResize(() => this.editor.classList.toggle('assign-folded', folded));
    this.body.hidden = folded;
    this.toggle.textContent = folded ? '◂' : '▸';
    this.toggle.title = folded ? 'Show the instructions' : 'Fold the instructions away';
    this.toggle.setAttribute('aria-label', this.toggle.title);
    this.toggle.setAttribute('aria-expanded', String(!folded));
    if (save) localStorage.setItem(FOLDED_KEY, folded ? '1' : '0');
  }

  async load() {
    let a;
    try {
      a = await assignmentsApi.ofTopology(this.hooks.topology);
    } catch (e) {
      if (e.status === 404) {
        // Unpublished, deleted, or you left the course: the topology stays yours, without its assignment.
        this.instructions.replaceChildren(el('p', {class: 'muted'},
          'This topology was copied from an assignment that is no longer available to you; it stays yours.'));
        this.checks.previousElementSibling.hidden = this.checks.hidden = true;
        this.button.hidden = true;
        this.fold(true, false);
        return;
      }
      this.instructions.replaceChildren(el('p', {class: 'alert'}, `Could not load the assignment: ${e.message}`));
      return;
    }
    this.assignment = a;
    this.title.textContent = a.title;
    this.title.title = a.title;
    this.due.textContent = [dueText(a.due), a.grading ? `grade: the ${a.grading} result${a.due ? ' before the due date' : ''}` : '']
      .filter(Boolean).join(' · ');
    // The server renders the Markdown and sanitizes it (no raw HTML, no script links): the one HTML put in as HTML.
    if (a.instructions_html) this.instructions.innerHTML = a.instructions_html;
    else this.instructions.replaceChildren(el('p', {class: 'muted'}, 'No instructions.'));
    const checks = Array.isArray(a.checks) ? a.checks : [];
    this.checks.replaceChildren(...(checks.length ? checks.map((c) => el('li', {},
      el('span', {}, c.description), el('span', {class: 'muted'}, ` · ${c.points} pt${c.points === 1 ? '' : 's'}`)))
      : [el('li', {class: 'muted'}, 'This assignment has no checks.')]));
    this.hasChecks = checks.length > 0;
    this.refreshButton();
    this.loadRuns();
  }

  // The latest run and the grade so far, so that a reload shows what the last "Check my work" found.
  async loadRuns() {
    try {
      const answer = await checksApi.runs(this.hooks.topology);
      const runs = (answer && answer.runs) || [];
      this.showGrade(answer && answer.grade);
      if (runs.length && !this.running) this.result.replaceChildren(renderRun(runs[0]));
    } catch {
      // No checks API answer (yet): the panel works without the history.
    }
  }

  showGrade(grade) {
    this.grade.textContent = grade && grade.max_score !== undefined
      ? `Grade so far: ${scoreText(grade)}${grade.counted === false ? ' (after the due date: not counted)' : ''}` : '';
  }

  // The lab's state, from the editor's live socket: the checks run on a running lab only.
  setLab(state) {
    this.labState = state;
    this.refreshButton();
  }

  refreshButton() {
    let why = '';
    if (this.running) why = 'Checking…';
    else if (this.assignment && !this.hasChecks) why = 'No checks to run.';
    else if (!['running', 'degraded'].includes(this.labState)) why = 'Deploy the lab first: the checks run in its nodes.';
    this.button.disabled = !!why;
    this.button.setAttribute('aria-disabled', why ? 'true' : 'false');
    this.buttonWhy.textContent = why;
  }

  async check() {
    if (this.running) return;
    this.running = true;
    this.refreshButton();
    this.result.replaceChildren(el('p', {class: 'muted'}, 'Checking… (each check runs in its node; this takes a few seconds)'));
    try {
      const run = await checksApi.run(this.hooks.topology);
      this.result.replaceChildren(renderRun(run));
    } catch (e) {
      this.result.replaceChildren(el('p', {class: 'alert'}, `Not checked: ${e.message}`));
    } finally {
      this.running = false;
      this.refreshButton();
    }
    this.loadRuns();
  }
}
