// The pop-out page: one console or logs view filling its window. A console popped out of the
// editor arrives with ?session=TOKEN and takes over that shell; the page keeps the current
// token in its address, so a reload gets the same shell back too. The console's pacing (the
// relay's numbers) comes in console-config, beside the page's terminal-config. ?program=vtysh is FRR's shell.
//
// A window popped out of an editor keeps that editor told (postMessage to its opener, this origin only:
// see POPOUT in dock.js): 'hello' with its session token when it opens or gets a new shell, 'ended' when
// its console ends, 'back' when the user clicks "Back to the dock" (then the window lets go of the shell,
// which keeps running, and closes). The editor takes the console back into its dock, same shell, its
// screen replayed, when the window closes either way.
//
// A supervisor's page (config.mode 'watch' or 'control', the student's name in config.student)
// shows a bar saying what they may do; "Take over" asks first, then leaves the watch and joins
// again in control mode (the student sees that they joined), the address following.
import {DETACH, TerminalSession} from './terminal.js';

const config = JSON.parse(document.getElementById('terminal-config').textContent);
const pacing = document.getElementById('console-config');
const stateEl = document.getElementById('term-state');
const reopen = document.getElementById('term-reopen');
const host = document.getElementById('term-host');
const program = config.kind === 'console' && new URLSearchParams(location.search).get('program') === 'vtysh' ? 'vtysh' : '';
const POPOUT = 'topolab-terminal'; // the messages' type (dock.js)
const dockKind = program || config.kind; // how the editor's dock names this terminal: console, vtysh or logs
const words = {connecting: 'connecting…', open: config.kind === 'logs' ? 'following' : 'connected',
  reconnecting: 'reconnecting…', closed: 'closed', error: 'could not open'};
if (config.mode) words.open = config.mode === 'watch' ? 'watching' : 'in control';

function start(mode) {
  return new TerminalSession(host, {
    topology: config.topology, node: config.node, kind: config.kind, mode, program,
    console: pacing ? JSON.parse(pacing.textContent) : undefined,
    session: mode ? '' : new URLSearchParams(location.search).get('session') || '',
    onState(state, message) {
      stateEl.textContent = words[state] || state;
      stateEl.dataset.state = state;
      stateEl.title = message || '';
      reopen.hidden = state !== 'closed' && state !== 'error';
      if (state === 'open' && config.kind === 'logs') tell('hello');
      if (state === 'closed' || state === 'error') tell('ended');
    },
    onSession(token) {
      const url = new URL(location.href);
      url.searchParams.set('session', token);
      history.replaceState(null, '', url);
      tell('hello');
    },
  });
}

// The editor that opened this window, told what becomes of this terminal (not a supervisor's: no dock of theirs).
function tell(event) {
  if (config.mode || !window.opener || window.opener.closed) return;
  const token = (session && session.token) || new URLSearchParams(location.search).get('session') || '';
  try {
    window.opener.postMessage({type: POPOUT, event, topology: config.topology, node: config.node, kind: dockKind, token},
      location.origin);
  } catch { /* the opener went elsewhere */ }
}

let session = null;
session = start(config.mode || '');
reopen.addEventListener('click', () => { session.reopen(); session.focus(); });

const back = document.getElementById('term-back');
if (back && window.opener && !window.opener.closed) {
  back.hidden = false;
  back.addEventListener('click', () => {
    tell('back');
    session.close(DETACH); // the shell stays, for the dock to resume
    window.close();
  });
  // An editor reloaded since it opened this window asks who is out here (it has no handle on us any more).
  if (!config.mode && 'BroadcastChannel' in window) {
    const channel = new BroadcastChannel(`${POPOUT}-${config.topology}`);
    channel.onmessage = (e) => { if (e.data && e.data.ask === 'who' && !session.final) tell('hello'); };
  }
}

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
