// One terminal in the page: an xterm.js screen and the websocket behind it, either a node's
// shell (/ws/topologies/<id>/nodes/<name>/console) or its container's output (.../logs).
//
// The websocket speaks JSON text frames for our words (input, resize, ack, status) and
// binary frames for the terminal's bytes. The shell outlives a dropped connection on the host
// (for the relay's keepSeconds, from the page's config), so any loss that the user did not ask
// for (code other than 1000, no "closed" status) reconnects with the session token and the
// shell comes back with what it printed meanwhile. Closing on purpose (close()) sends 1000,
// which ends the shell. Output is acknowledged by the relay's numbers too (ackEvery, window).
// A terminal that starts by resuming a shell (a pop-out, a console back in the dock, a reload) has an empty
// screen: it asks for the shell's recent output first (replay=1, the relay's "replay"), so the screen and
// its scrollback come along, colours and all; a reconnect after a lost connection has its screen already.
//
// A supervisor's terminal has a mode: 'watch' (nothing typed is sent, the screen follows the
// student's) or 'control' (typing is sent). Either way it never resizes the student's terminal.
// The student's own console shows a banner over the screen while somebody watches or types
// ("joined" status), until they dismiss it or that person leaves ("left", paired by `by`).
// Paths, not bare names: an import map is inline script to the Content-Security-Policy.
import {Terminal} from '../vendor/xterm/lib/xterm.mjs';
import {FitAddon} from '../vendor/xterm-addon-fit/lib/addon-fit.mjs';

// The relay's numbers (topology/relay), for a page whose config lacks them: the pages serve them.
const CONSOLE_FALLBACK = {keepSeconds: 60, ackEvery: 128 * 1024, window: 512 * 1024};
const BACKOFF = [500, 1000, 2000, 4000, 5000];
const FORBIDDEN = 4403;
const NOT_AVAILABLE = 4409;
export const DETACH = 4000; // our own close code: leave the shell running (a pop-out takes it over)
// The words of the relay (topology/relay/server.py, _why_ended) and of the web tier's re-check
// (topology/websockets/relayed.py) for a console that ended because its node stopped: said here with the
// node's name, and remembered (nodeStopped) so that the dock can start a new shell once the node runs
// again (restarted()).
const NODE_DOWN = {
  'the node stopped': (node) => `${node} stopped`,
  'the node exited': (node) => `${node} exited`,
  "the node's container is gone": (node) => `${node}'s container is gone`,
};

const DIM = '\x1b[2m';
const HIDE_CURSOR = '\x1b[?25l';
const RESET = '\x1b[0m';

// Colours close to the page's own palette (topolab.css), one set per colour scheme.
const THEMES = {
  light: {background: '#fbfbfc', foreground: '#1d2430', cursor: '#2f6fde', cursorAccent: '#fbfbfc',
    selectionBackground: '#c9dbfa', black: '#1d2430', red: '#c62f2f', green: '#1f7f45', yellow: '#946800',
    blue: '#2f6fde', magenta: '#9340b8', cyan: '#137a87', white: '#c9ced6', brightBlack: '#6b7482',
    brightRed: '#d93636', brightGreen: '#23914f', brightYellow: '#b07d00', brightBlue: '#4f86e8',
    brightMagenta: '#a855c9', brightCyan: '#1a8f9e', brightWhite: '#e3e7ed'},
  dark: {background: '#14171b', foreground: '#e3e7ed', cursor: '#5b95f5', cursorAccent: '#14171b',
    selectionBackground: '#2d4a78', black: '#2d333c', red: '#f06464', green: '#43b86f', yellow: '#e0a526',
    blue: '#5b95f5', magenta: '#c27ce0', cyan: '#4fc1cf', white: '#c9ced6', brightBlack: '#8d96a3',
    brightRed: '#ff8080', brightGreen: '#62d18a', brightYellow: '#f2c04f', brightBlue: '#80adff',
    brightMagenta: '#d59af0', brightCyan: '#74d6e2', brightWhite: '#ffffff'},
};
const darkQuery = window.matchMedia('(prefers-color-scheme: dark)');
const theme = () => THEMES[darkQuery.matches ? 'dark' : 'light'];

// The banners' rules live in watch.css beside this module: the pages that hold a terminal (the
// editor's dock, the pop-out) get it from here, once, unless they link it themselves.
function watchStyles() {
  if (document.querySelector('link[href$="/watch.css"]')) return;
  const link = document.createElement('link');
  link.rel = 'stylesheet';
  link.href = new URL('./watch.css', import.meta.url).href;
  document.head.append(link);
}

// "a minute", "2 minutes", "45 s": how long the host keeps a dropped shell, in words.
function span(seconds) {
  if (seconds === 60) return 'a minute';
  return seconds % 60 === 0 ? `${seconds / 60} minutes` : `${seconds} s`;
}

export class TerminalSession {
  // host: the element the terminal fills. options: {topology, node, kind: 'console' | 'logs',
  // session: a token to resume, console: the config's {keepSeconds, ackEvery, window}, program: '' (the login shell) or
  // 'vtysh' (FRR's shell, on an frr node: the relay runs it instead of the shell),
  // mode: '' (one's own console) | 'watch' | 'control' (a supervisor's), onState(state, message), onSession(token)}.
  // States: connecting, open, reconnecting, closed (the server ended it, or the user), error.
  constructor(host, {topology, node, kind = 'console', session = '', mode = '', program = '', console: pacing, onState = () => {}, onSession = () => {}}) {
    const {keepSeconds, ackEvery, window: unacked} = {...CONSOLE_FALLBACK, ...pacing};
    this.keepSeconds = keepSeconds;
    // The server sends at most `window` bytes unacknowledged: acknowledge well before it fills.
    this.ackEvery = Math.min(ackEvery, unacked / 2);
    this.host = host;
    this.topology = topology;
    this.node = node;
    this.kind = kind;
    this.mode = kind === 'console' ? mode : '';
    this.program = kind === 'console' ? program : '';
    this.token = this.mode ? '' : session; // a watcher has no session of its own to resume
    this.blank = true; // nothing of a shell on the screen yet: a resume brings the shell's recent output
    this.banners = new Map(); // who is watching or typing (their `by`) -> the banner shown for them
    this.onState = onState;
    this.onSession = onSession;
    this.state = 'connecting';
    this.ws = null;
    this.final = false; // the server said closed/error, or the user closed: never reconnect
    this.nodeStopped = false; // it ended because its node stopped (see NODE_DOWN)
    this.lostAt = 0; // when the current run of reconnect attempts began
    this.attempt = 0;
    this.retry = null;

    const typing = kind === 'console' && this.mode !== 'watch';
    this.term = new Terminal({
      // A shell's TTY sends CR LF itself; a container's own output (no TTY) has bare LF.
      scrollback: 5000, convertEol: kind === 'logs', cursorBlink: typing, disableStdin: !typing,
      fontFamily: 'ui-monospace, SFMono-Regular, Menlo, Consolas, "DejaVu Sans Mono", monospace', fontSize: 13,
      theme: theme(),
    });
    this.fit = new FitAddon();
    this.term.loadAddon(this.fit);
    // xterm fills an inset box of its own: the host's padding would confuse the fit.
    const box = host.appendChild(document.createElement('div'));
    box.className = 'term-screen';
    this.term.open(box);
    if (kind === 'logs') this.term.write(HIDE_CURSOR); // nothing is typed there
    this.term.attachCustomKeyEventHandler((e) => this.key(e));
    if (typing) this.term.onData((data) => this.send({type: 'input', data}));
    this.term.onResize(({cols, rows}) => {
      host.dataset.cols = cols; host.dataset.rows = rows; // for the browser tests and a glance in devtools
      if (!this.mode) this.send({type: 'resize', cols, rows}); // the student's window sizes their terminal
    });
    if (kind === 'console' && !this.mode) watchStyles();
    this.themeChanged = () => { this.term.options.theme = theme(); };
    darkQuery.addEventListener('change', this.themeChanged);
    // Follow the host's size; debounced, since a dragged splitter reports every frame.
    let timer = null;
    this.observer = new ResizeObserver(() => { clearTimeout(timer); timer = setTimeout(() => this.refit(), 60); });
    this.observer.observe(host);
    this.refit();
    this.connect();
  }

  get open() { return this.state === 'open'; }

  refit() {
    // A hidden host (another tab is showing) has no size: keep the last one.
    if (!this.host.clientWidth || !this.host.clientHeight) return;
    this.fit.fit();
    this.host.dataset.cols = this.term.cols; this.host.dataset.rows = this.term.rows;
  }

  focus() { this.term.focus(); }

  url() {
    const proto = location.protocol === 'https:' ? 'wss' : 'ws';
    const q = new URLSearchParams({cols: this.term.cols, rows: this.term.rows, flow: '1'});
    if (this.mode) q.set('mode', this.mode);
    if (this.program) q.set('program', this.program);
    if (this.kind === 'console' && this.token) q.set('session', this.token);
    if (this.kind === 'console' && this.token && this.blank) q.set('replay', '1');
    return `${proto}://${location.host}/ws/topologies/${this.topology}/nodes/${encodeURIComponent(this.node)}/${this.kind}?${q}`;
  }

  connect() {
    this.retry = null;
    this.askedResume = this.kind === 'console' && !!this.token;
    const ws = new WebSocket(this.url());
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    // Bytes written into xterm on this connection, and how many of them were acknowledged.
    let written = 0, acked = 0;
    ws.onmessage = (m) => {
      if (ws !== this.ws) return;
      if (typeof m.data !== 'string') {
        const bytes = new Uint8Array(m.data);
        this.term.write(bytes, () => {
          written += bytes.length;
          if (written - acked >= this.ackEvery && ws === this.ws && ws.readyState === WebSocket.OPEN) {
            acked = written;
            ws.send(JSON.stringify({type: 'ack', bytes: written}));
          }
        });
        return;
      }
      let msg;
      try { msg = JSON.parse(m.data); } catch { return; }
      if (msg.type === 'status') this.status(msg);
    };
    ws.onclose = (e) => { if (ws === this.ws) this.closed(e.code); };
  }

  status(msg) {
    const text = msg.message || '';
    if (msg.state === 'open') {
      this.lostAt = 0; this.attempt = 0; this.blank = false;
      if (msg.session) { this.token = msg.session; this.onSession(this.token); }
      // Asked for the old shell and got a new one: say so (the server's words).
      if (this.askedResume && msg.resumed === false) this.note(text || 'The old shell is gone; this is a new one.', true);
      this.setState('open', text);
    } else if (msg.state === 'dropped') {
      this.note(text || 'Some output was dropped: the connection was too slow.');
    } else if (msg.state === 'joined') {
      this.note(text);
      this.banner(msg.by || '', text, msg.mode);
    } else if (msg.state === 'left') {
      this.note(text);
      this.unbanner(msg.by || '');
    } else if (msg.state === 'closed' || msg.state === 'error') {
      this.final = true;
      this.nodeStopped = msg.state === 'closed' && Object.hasOwn(NODE_DOWN, text);
      const said = this.nodeStopped ? NODE_DOWN[text](this.node) : text;
      for (const by of [...this.banners.keys()]) this.unbanner(by); // nobody is watching an ended console
      this.note(said || (msg.state === 'closed' ? 'The console ended.' : 'The console could not open.'), msg.state === 'error');
      this.term.write(HIDE_CURSOR);
      this.setState(msg.state, said);
    }
  }

  closed(code) {
    this.ws = null;
    if (this.dropping) { this.dropping = false; code = 1006; } // see drop()
    if (this.final) { if (this.state !== 'closed' && this.state !== 'error') this.setState('closed', ''); return; }
    if (code === FORBIDDEN || code === NOT_AVAILABLE || code === 1000) {
      // A refusal or an end without a status frame before it: nothing to come back to.
      this.final = true;
      const text = code === FORBIDDEN ? (this.mode ? 'Not allowed: you do not look after this console.' : 'Not allowed: sign in again (this console is only for its owner).') : code === NOT_AVAILABLE ? 'The console is not available.' : 'The console ended.';
      this.note(text, code !== 1000);
      this.setState(code === 1000 ? 'closed' : 'error', text);
      return;
    }
    // A loss the user did not ask for: come back, with the same shell, for as long as the host keeps it.
    const now = Date.now();
    if (!this.lostAt) { this.lostAt = now; this.note('Connection lost; reconnecting…'); }
    if (now - this.lostAt > this.keepSeconds * 1000) {
      this.final = true;
      this.note(`Could not reconnect within ${span(this.keepSeconds)}; the console is closed.`, true);
      this.setState('closed', 'Could not reconnect.');
      return;
    }
    this.setState('reconnecting', 'reconnecting…');
    const delay = BACKOFF[Math.min(this.attempt++, BACKOFF.length - 1)];
    this.retry = setTimeout(() => this.connect(), delay);
  }

  // Lose the connection as a network would (for the browser tests). The server keeps the shell
  // for any close code but 1000; the code the browser reports back is the server's echo, so
  // remember that this one was a loss.
  drop() {
    if (!this.ws) return;
    this.dropping = true;
    this.ws.close(4001);
  }

  // Open again after an end: a new shell (or the logs from the start again) under the old output.
  reopen() {
    if (!this.final) return;
    this.final = false; this.nodeStopped = false; this.lostAt = 0; this.attempt = 0; this.token = '';
    if (this.kind === 'logs') this.term.write(`\x1bc${HIDE_CURSOR}`); // the logs come again from the start
    else if (this.mode) this.term.write(`\r\n${DIM}──── joining again ────${RESET}\r\n`);
    else this.term.write(`\r\n${DIM}──── new shell ────${RESET}\r\n\x1b[?25h`);
    this.setState('connecting', '');
    this.connect();
  }

  // The node runs again after it stopped under this session (nodeStopped): its old shell went with its
  // container's processes, so a new one (or its logs from the start), under the old output and a line that
  // says so. Nothing happens to a session that did not end that way.
  restarted() {
    if (!this.final || !this.nodeStopped) return;
    this.final = false; this.nodeStopped = false; this.lostAt = 0; this.attempt = 0; this.token = '';
    if (this.kind === 'logs') this.term.write(`\x1bc${HIDE_CURSOR}`); // its output comes again from the start
    this.note(`${this.node} restarted`);
    if (this.kind === 'console' && this.mode !== 'watch') this.term.write('\x1b[?25h');
    this.setState('connecting', '');
    this.connect();
  }

  // End it on purpose: code 1000 ends the shell; DETACH leaves it to whoever resumes it (a pop-out).
  close(code = 1000) {
    this.final = true;
    this.nodeStopped = false; // ended on purpose: nothing to start again
    clearTimeout(this.retry);
    const ws = this.ws;
    this.ws = null;
    if (ws && ws.readyState <= WebSocket.OPEN) ws.close(code);
    if (this.state !== 'closed' && this.state !== 'error') this.setState('closed', '');
  }

  dispose() {
    this.close();
    this.observer.disconnect();
    darkQuery.removeEventListener('change', this.themeChanged);
    this.term.dispose();
  }

  send(message) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(message));
  }

  setState(state, message) {
    this.state = state;
    this.host.dataset.state = state;
    this.onState(state, message);
  }

  // A banner over the screen: somebody (`by`) watches ('watch') or may type ('control'). One per person;
  // the same person joining again (another window of theirs) replaces theirs.
  banner(by, text, mode) {
    this.unbanner(by);
    let box = this.host.querySelector(':scope > .term-banners');
    if (!box) {
      box = document.createElement('div');
      box.className = 'term-banners';
      this.host.append(box);
    }
    const el = document.createElement('div');
    el.className = 'term-banner';
    el.setAttribute('role', 'alert');
    el.dataset.mode = mode === 'control' ? 'control' : 'watch';
    el.dataset.by = by;
    const words = document.createElement('span');
    words.className = 'term-banner-text';
    words.textContent = text;
    const dismiss = document.createElement('button');
    dismiss.type = 'button';
    dismiss.className = 'term-banner-close';
    dismiss.title = 'Dismiss';
    dismiss.setAttribute('aria-label', 'Dismiss');
    dismiss.textContent = '✕';
    dismiss.addEventListener('click', () => { if (this.banners.get(by) === el) this.unbanner(by); this.focus(); });
    el.append(words, dismiss);
    box.append(el);
    this.banners.set(by, el);
  }

  unbanner(by) {
    const el = this.banners.get(by);
    if (!el) return;
    this.banners.delete(by);
    el.remove();
  }

  // A line of our own (not the shell's), dim, on a line of its own; errors in red.
  note(text, loud = false) {
    const start = this.term.buffer.active.cursorX ? '\r\n' : '';
    this.term.write(`${start}${loud ? '\x1b[31m' : DIM}[${text}]${RESET}\r\n`);
  }

  // Ctrl-Shift-C copies the selection, Ctrl-Shift-V pastes (plain Ctrl-C and Ctrl-V stay the shell's).
  key(e) {
    if (e.type !== 'keydown' || !e.ctrlKey || !e.shiftKey || e.altKey) return true;
    const k = e.key.toLowerCase();
    if (k === 'c') {
      const text = this.term.getSelection();
      if (text && navigator.clipboard) navigator.clipboard.writeText(text).catch(() => {});
      e.preventDefault();
      return false;
    }
    if (k === 'v') {
      if (navigator.clipboard && navigator.clipboard.readText) {
        navigator.clipboard.readText().then((t) => { if (t) this.term.paste(t); }).catch(() => {});
      }
      e.preventDefault();
      return false;
    }
    return true;
  }
}

