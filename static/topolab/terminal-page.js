// The pop-out page: one console or logs view filling its window. A console popped out of the
// editor arrives with ?session=TOKEN and takes over that shell; the page keeps the current
// token in its address, so a reload gets the same shell back too. The console's pacing (the
// relay's numbers) comes in console-config, beside the page's terminal-config.
import {TerminalSession} from './terminal.js';

const config = JSON.parse(document.getElementById('terminal-config').textContent);
const pacing = document.getElementById('console-config');
const stateEl = document.getElementById('term-state');
const reopen = document.getElementById('term-reopen');
const words = {connecting: 'connecting…', open: config.kind === 'logs' ? 'following' : 'connected',
  reconnecting: 'reconnecting…', closed: 'closed', error: 'could not open'};

const session = new TerminalSession(document.getElementById('term-host'), {
  topology: config.topology, node: config.node, kind: config.kind,
  console: pacing ? JSON.parse(pacing.textContent) : undefined,
  session: new URLSearchParams(location.search).get('session') || '',
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
reopen.addEventListener('click', () => { session.reopen(); session.focus(); });
session.focus();
window.topolab = {session}; // for the browser tests
