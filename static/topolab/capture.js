// The capture page (templates/topology/capture.html): start a capture on a running lab's interface
// (POST /api/v1/topologies/<id>/captures), then follow it on /ws/topologies/<id>/captures/<cid>
// (topology/websockets/capture.py): rows come in batches; the table holds at most MAX_ROWS of them
// (older rows drop out of the table, never out of the file) and is virtual: only the rows in sight
// are in the DOM, drawn once per animation frame, so a flood of thousands of packets a second never
// freezes the page. A click on a row (or the arrow keys) asks for its layers and hex dump, read by
// the server from the capture's file.
import {request, ApiError} from './api.js';
import {el} from './dom.js';

const MAX_ROWS = 10000;     // rows in the table at once (the latest that match the display filter)
const KEEP_ROWS = 20000;    // rows kept in the page, for the display filter
const ROW_HEIGHT = 20;      // px: .cap-table tbody tr's height in capture.css
const OVERSCAN = 8;         // rows drawn beyond the visible ones, above and below
const config = JSON.parse(document.getElementById('capture-config').textContent);
const $ = (id) => document.getElementById(id);
const ui = {title: $('cap-title'), state: $('cap-state'), counts: $('cap-counts'), stop: $('cap-stop'), download: $('cap-download'),
  form: $('cap-start'), target: $('cap-target'), filter: $('cap-filter'), go: $('cap-go'), error: $('cap-error'),
  tools: $('cap-tools'), display: $('cap-display'), follow: $('cap-follow'), note: $('cap-note'), wrap: $('cap-wrap'),
  rows: $('cap-rows'), detail: $('cap-detail'), layers: $('cap-layers'), hex: $('cap-hex')};

let capture = null;      // the capture's record
let socket = null;
let all = [];            // every row received (the latest KEEP_ROWS)
let view = [];           // the rows of the table: the latest MAX_ROWS of `all` that match the display filter
let pending = [];        // rows not in `view` yet
let redraw = false;      // the display filter changed: draw the table anew
let scheduled = false;
let skipped = 0;
let selected = 0;
let autoTop = -1;        // the scrollTop draw() gave the table to follow the newest: its scroll event is not the user's

function setState(text, state) {
  ui.state.textContent = text;
  ui.state.dataset.state = state;
}

// The display filter: every word must be in the row (any column), case aside.
function matcher() {
  const words = ui.display.value.toLowerCase().split(/\s+/).filter(Boolean);
  if (!words.length) return () => true;
  return (r) => {
    const text = `${r.no} ${r.src} ${r.dst} ${r.protocol} ${r.length} ${r.info}`.toLowerCase();
    return words.every((w) => text.includes(w));
  };
}

function rowElement(r) {
  const tr = el('tr', {'data-no': r.no, class: `p-${String(r.protocol).toLowerCase().replace(/[^a-z0-9]/g, '')}`},
    el('td', {class: 'c-no'}, r.no), el('td', {class: 'c-time'}, r.time.toFixed(6)), el('td', {class: 'c-src'}, r.src),
    el('td', {class: 'c-dst'}, r.dst), el('td', {class: 'c-proto'}, r.protocol), el('td', {class: 'c-len'}, r.length),
    el('td', {class: 'c-info', title: r.info}, r.info));
  if (r.no === selected) tr.classList.add('selected');
  return tr;
}

function pad(height) {
  const td = el('td', {colspan: '7'});
  td.style.height = `${height}px`;  // CSSOM, which the page's CSP allows (no inline style attribute)
  return el('tr', {class: 'cap-pad', 'aria-hidden': 'true'}, td);
}

function draw() {
  scheduled = false;
  const keep = matcher();
  if (redraw) {
    redraw = false;
    pending = [];
    view = all.filter(keep);
  } else if (pending.length) {
    for (const r of pending) if (keep(r)) view.push(r);
    pending = [];
  }
  if (view.length > MAX_ROWS * 1.2) view = view.slice(-MAX_ROWS);  // now and then: not a copy per frame
  const rows = Math.min(view.length, MAX_ROWS);
  const offset = view.length - rows;  // rows beyond MAX_ROWS wait for the next trim, out of sight
  if (ui.follow.checked) { ui.wrap.scrollTop = rows * ROW_HEIGHT; autoTop = ui.wrap.scrollTop; }
  const first = Math.max(0, Math.floor(ui.wrap.scrollTop / ROW_HEIGHT) - OVERSCAN);
  const last = Math.min(rows, first + Math.ceil(ui.wrap.clientHeight / ROW_HEIGHT) + 2 * OVERSCAN);
  const drawn = [pad(first * ROW_HEIGHT)];
  for (let i = first; i < last; i++) drawn.push(rowElement(view[offset + i]));
  drawn.push(pad((rows - last) * ROW_HEIGHT));
  ui.rows.replaceChildren(...drawn);
  if (ui.follow.checked) { ui.wrap.scrollTop = rows * ROW_HEIGHT; autoTop = ui.wrap.scrollTop; }
  const shownNote = rows >= MAX_ROWS ? `the table holds the latest ${MAX_ROWS} rows; older ones are in the file. ` : '';
  ui.note.textContent = `${shownNote}${skipped ? `${skipped} packets were not shown live (too many at once); the file has every packet.` : ''}`;
}

// The table's rows in view order: [row, index] of packet `no` in it, or null.
function indexOf(no) {
  const rows = Math.min(view.length, MAX_ROWS);
  const offset = view.length - rows;
  for (let i = rows - 1; i >= 0; i--) if (view[offset + i].no === no) return i;
  return null;
}

function schedule() {
  if (!scheduled) {
    scheduled = true;
    requestAnimationFrame(draw);
  }
}

function size(bytes) {
  if (bytes >= 1048576) return `${(bytes / 1048576).toFixed(1)} MiB`;
  if (bytes >= 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${bytes} bytes`;
}

function counts(packets, bytes) {
  ui.counts.textContent = `${packets} packets · ${size(bytes)}`;
}

function shown(record) {
  capture = record;
  const where = `${record.node} ${record.interface}`;
  ui.title.textContent = `Capture · ${where}${record.filter ? ` · ${record.filter}` : ''}`;
  document.title = `Capture · ${where} · ${config.topologyName}`;
  ui.download.href = `/api/v1/topologies/${config.topology}/captures/${record.id}.pcap`;
  ui.download.hidden = false;
  ui.stop.hidden = record.state !== 'running';
  ui.form.hidden = true;
  ui.tools.hidden = false;
  ui.wrap.hidden = false;
  counts(record.packets, record.bytes);
  if (record.state === 'ended') {
    setState(`ended: ${record.reason}`, 'ended');
    ui.stop.hidden = true;
  } else {
    setState('capturing', 'running');
  }
}

function connect(id) {
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  socket = new WebSocket(`${scheme}://${location.host}/ws/topologies/${config.topology}/captures/${id}`);
  setState('connecting…', 'connecting');
  socket.addEventListener('message', (event) => {
    const m = JSON.parse(event.data);
    if (m.type === 'capture') shown(m.capture);
    else if (m.type === 'rows') {
      for (const r of m.rows) { all.push(r); pending.push(r); }
      if (all.length > KEEP_ROWS) all = all.slice(-KEEP_ROWS);
      skipped += m.skipped || 0;
      counts(m.packets, m.bytes);
      schedule();
    } else if (m.type === 'ended') shown(m.capture);
    else if (m.type === 'detail') showDetail(m);
    else if (m.type === 'error') setState(m.message, 'error');
  });
  socket.addEventListener('close', (event) => {
    if (capture && capture.state === 'ended') return;
    setState(event.code === 4403 ? 'this capture is not there (or not yours to see)' : 'disconnected: reload to follow it again', 'error');
    ui.stop.hidden = true;
  });
}

function showDetail(m) {
  ui.detail.hidden = false;
  if (m.error) {
    ui.layers.replaceChildren(el('p', {class: 'muted'}, `Packet ${m.no}: ${m.error}`));
    ui.hex.textContent = '';
    return;
  }
  ui.layers.replaceChildren(el('p', {class: 'cap-detail-title'}, `Packet ${m.no}: ${m.length} bytes on the wire, ${m.captured} captured`),
    ...m.layers.map((layer, i) => el('details', {open: i < 4 || undefined}, el('summary', {}, layer.name),
      el('dl', {}, ...layer.fields.flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)])))));
  ui.hex.textContent = m.hex;
}

function select(no) {
  if (!no) return;
  selected = no;
  for (const tr of ui.rows.querySelectorAll('tr[data-no]')) tr.classList.toggle('selected', Number(tr.dataset.no) === no);
  if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({type: 'detail', no}));
}

ui.rows.addEventListener('click', (e) => {
  const tr = e.target.closest('tr[data-no]');
  if (tr) { ui.wrap.focus({preventScroll: true}); select(Number(tr.dataset.no)); }
});
ui.wrap.addEventListener('keydown', (e) => {
  if (e.key !== 'ArrowDown' && e.key !== 'ArrowUp') return;
  e.preventDefault();
  const rows = Math.min(view.length, MAX_ROWS);
  const offset = view.length - rows;
  const at = indexOf(selected);
  const next = at === null ? 0 : Math.max(0, Math.min(rows - 1, at + (e.key === 'ArrowDown' ? 1 : -1)));
  if (!rows) return;
  ui.follow.checked = false;
  select(view[offset + next].no);
  const top = next * ROW_HEIGHT;  // keep it in sight
  if (top < ui.wrap.scrollTop + ROW_HEIGHT) ui.wrap.scrollTop = top - ROW_HEIGHT;
  else if (top > ui.wrap.scrollTop + ui.wrap.clientHeight - 2 * ROW_HEIGHT) ui.wrap.scrollTop = top - ui.wrap.clientHeight + 2 * ROW_HEIGHT;
  schedule();
});
// Scrolling draws the rows come into sight; scrolling up stops following the newest, back to the bottom follows again.
// (A scroll that draw() made to follow is not one: under a flood its event may come after the user unticked
// "Follow newest", and would tick it again.)
ui.wrap.addEventListener('scroll', () => {
  if (ui.wrap.scrollTop === autoTop) { schedule(); return; }
  const bottom = ui.wrap.scrollTop + ui.wrap.clientHeight >= ui.wrap.scrollHeight - ROW_HEIGHT;
  if (ui.follow.checked !== bottom) ui.follow.checked = bottom;
  schedule();
}, {passive: true});
ui.follow.addEventListener('change', schedule);
ui.display.addEventListener('input', () => { redraw = true; schedule(); });

ui.stop.addEventListener('click', async () => {
  ui.stop.disabled = true;
  try {
    shown(await request('DELETE', `topologies/${config.topology}/captures/${capture.id}`));
  } catch (e) {
    setState(`not stopped: ${e.message}`, 'error');
  } finally {
    ui.stop.disabled = false;
  }
});

ui.form.addEventListener('submit', async (e) => {
  e.preventDefault();
  ui.error.textContent = '';
  ui.go.disabled = true;
  ui.go.textContent = 'Starting…';
  try {
    const record = await request('POST', `topologies/${config.topology}/captures`, {target: ui.target.value.trim(), filter: ui.filter.value});
    history.replaceState(null, '', `?capture=${record.id}`);
    shown(record);
    connect(record.id);
  } catch (err) {
    const errors = err instanceof ApiError && err.errors.length ? err.errors : [{message: err.message}];
    ui.error.textContent = errors.map((p) => (p.path === 'filter' ? `Capture filter: ${p.message}` : p.message)).join(' ');
  } finally {
    ui.go.disabled = false;
    ui.go.textContent = 'Start capture';
  }
});

if (config.capture) {
  connect(config.capture);
} else {
  ui.form.hidden = false;
  ui.target.value = config.target;
  (config.target ? ui.filter : ui.target).focus();
  setState('not started', 'idle');
}
