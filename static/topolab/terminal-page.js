// The pop-out page: one console or logs view filling its window. A console popped out of the
// editor arrives with ?session=TOKEN and takes over that shell; the page keeps the current
// token in its address, so a reload gets the same shell back too. The console's pacing (the
// relay's numbers) comes in console-config, beside the page's terminal-config.
//
// A supervisor's page (config.mode 'watch' or 'control', the student's name in config.student)
// shows a bar saying what they may do; "Take over" asks first, then leaves the watch and joins
// again in control mode (the student sees that they joined), the address following.
import {TerminalSession} from './terminal.js';

const config = JSON.parse(document.getElementById('terminal-config').textContent);
const pacing = document.getElementById('console-config');
const stateEl = document.getElementById('term-state');
const reopen = document.getElementById('term-reopen');
const host = document.getElementById('term-host');
const words = {connecting: 'connecting…', open: config.kind === 'logs' ? 'following' : 'connected',
  reconnecting: 'reconnecting…', closed: 'closed', error: 'could not open'};
if (config.mode) words.open = config.mode === 'watch' ? 'watching' : 'in control';

function start(mode) {
  return new TerminalSession(host, {
    topology: config.topology, node: config.node, kind: config.kind, mode,
    console: pacing ? JSON.parse(pacing.textContent) : undefined,
    session: mode ? '' : new URLSearchParams(location.search).get('session') || '',
    onState(state, message) {
      stateEl.textContent = words[state] || state;
      stateEl.dataset.state = state;
      stateEl.title = message || '';
      reopen.hidden = state !== 'closed' && state !== 'error';
    },
    onSession(token) {
      const url = new URL(location.href);
      url.searchParams.set('session', token);
      history.replaceState(null, '', url);
    },
  });
}

let session = start(config.mode || '');
reopen.addEventListener('click', () => { session.reopen(); session.focus(); });

const bar = document.getElementById('watch-bar');
if (bar) {
  const text = document.getElementById('watch-text');
  const takeOver = document.getElementById('watch-take-over');
  takeOver.addEventListener('click', () => {
    if (!window.confirm(takeOver.dataset.confirm)) return;
    session.dispose(); // code 1000: the watch ends (the student is told who left)
    host.replaceChildren();
    bar.dataset.mode = 'control';
    text.textContent = text.dataset.control;
    takeOver.hidden = true;
    words.open = 'in control';
    const url = new URL(location.href);
    url.searchParams.set('mode', 'control');
    history.replaceState(null, '', url);
    session = start('control');
    window.topolab.session = session;
    session.focus();
  });
}
session.focus();
window.topolab = {session}; // for the browser tests
