// "Destroy" asks first (issue 13, "Honest controls"), in the page: which lab, how many of its nodes run, and
// what happens (consoles close, the topology is kept). Enter confirms, Escape cancels (the dialog's own cancel).
// Shared by the pages that destroy a lab: the editor's Destroy button, and any list that offers one.
import {el} from './dom.js';

let dialog = null;

function build() {
  const d = el('dialog', {class: 'destroy-dialog', id: 'destroy-dialog', 'aria-labelledby': 'destroy-title', 'aria-describedby': 'destroy-text'},
    el('form', {method: 'dialog'},
      el('h2', {id: 'destroy-title'}, 'Destroy the lab?'),
      el('p', {id: 'destroy-text'}),
      el('menu', {},
        el('button', {class: 'btn', value: 'cancel', id: 'destroy-cancel'}, 'Cancel'),
        el('button', {class: 'btn btn-danger', value: 'ok', id: 'destroy-ok'}, 'Destroy'))));
  // Enter anywhere in the dialog confirms, as on its Destroy button (which has the focus when it opens).
  d.addEventListener('keydown', (e) => {
    if (e.key !== 'Enter' || e.target.tagName === 'BUTTON') return;
    e.preventDefault();
    d.close('ok');
  });
  document.body.append(d);
  return d;
}

// The question: "Destroy lab ‘triangle’ and its 6 running nodes? Consoles close; the topology is kept."
export function destroyQuestion({name, running = 0, nodes = 0}) {
  const lab = `lab ‘${name}’`;
  let what;
  if (running) what = `${lab} and its ${running} running node${running === 1 ? '' : 's'}`;
  else if (nodes) what = `${lab} (${nodes} node${nodes === 1 ? '' : 's'}, none running)`;
  else what = lab;
  return `Destroy ${what}? Consoles close; the topology is kept.`;
}

// Ask; resolves true when the user confirms. lab: {name, running, nodes}.
export function confirmDestroy(lab) {
  if (!dialog) dialog = build();
  dialog.querySelector('#destroy-text').textContent = destroyQuestion(lab);
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), {once: true});
    dialog.returnValue = '';
    dialog.showModal();
    dialog.querySelector('#destroy-ok').focus();
  });
}
