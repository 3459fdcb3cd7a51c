// An editor open on a topology changed or deleted elsewhere says so at once (issue 13, "Honest controls").
//
// The lab's websocket carries {"type": "topology", "updated": ...} once any save of the document is committed
// (topology/broadcast.py): another tab's, the API's, the command line's, an apply's. The page knows the
// `updated` of its own copy (its load and each of its saves); another one means the document moved on: a
// banner over the canvas says when, with "Reload" (take theirs: one undo step brings mine back) and "Keep mine
// (overwrite)". Saves carry that `updated` as a precondition (PUT ...?expected=), so a save over a newer
// version is refused with 409 instead of overwriting it silently; the banner then says so too.
//
// Its own saves by other roads (Apply changes saves the same document again, FRR's "Save configs" writes into
// it and the page takes the server's) also bring a new `updated`: a message is only news when the server's
// document differs from the one this page last had from the server, which is asked before saying anything.
import {request, api} from './api.js';
import {el} from './dom.js';

// The same document, whatever the order of its keys.
function canonical(value) {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value).filter((k) => value[k] !== undefined).sort().map((k) => `${JSON.stringify(k)}:${canonical(value[k])}`).join(',')}}`;
  }
  return JSON.stringify(value === undefined ? null : value);
}

// Time for the page's own flows (an FRR save's reload) to take the server's copy before a message counts.
const GRACE_MS = 600;

export class StaleGuard {
  // ed: the editor ({config, doc, saved}); hooks: {reload(topology), save(), status(text, level)}.
  constructor(ed, root, hooks) {
    this.ed = ed;
    this.hooks = hooks;
    this.known = ''; // `updated` of the copy this page last had from the server
    this.copy = ''; // canonical() of that copy's document
    this.saving = null; // the PUT in flight
    this.theirs = null; // the newer topology the banner is about
    this.banner = el('div', {class: 'stale-banner', id: 'stale-banner', role: 'alert', hidden: true});
    root.append(this.banner);
  }

  // The server's copy, as an answer (GET or PUT) carried it.
  adopt(topology) {
    if (!topology || !topology.updated) return;
    this.known = topology.updated;
    if (topology.document) this.copy = canonical(topology.document);
    if (this.theirs && this.theirs.updated === topology.updated) this.hide();
  }

  // Save `doc` over the copy this page has: refused (409) if the topology was saved since, unless that save
  // changed nothing (then once more, over it).
  async put(doc) {
    const id = this.ed.config.id;
    const send = () => request('PUT', `topologies/${id}${this.known ? `?expected=${encodeURIComponent(this.known)}` : ''}`, doc);
    const run = (async () => {
      try {
        return await send();
      } catch (e) {
        if (e.status !== 409) throw e;
        const now = await api.get(id);
        if (!this.ours(now.document)) { this.show(now); throw e; }
        this.adopt(now); // the same document saved again (an apply): nothing of theirs to keep
        return send();
      }
    })();
    this.saving = run.catch(() => null);
    const answer = await run;
    this.adopt(answer);
    this.hide();
    return answer;
  }

  // Is the server's document one this page has had: its last copy from the server, or what it saved since
  // (which a live change of a link, link-live.js, writes into without a new `updated`)?
  ours(document) {
    const theirs = canonical(document);
    if (theirs === this.copy) return true;
    try { return !!this.ed.saved && theirs === canonical(JSON.parse(this.ed.saved)); } catch { return false; }
  }

  // The status line's words for a refused save ('' when it is not this refusal).
  refusal(e) {
    return e && e.status === 409 && this.theirs ? 'Not saved: this topology was changed elsewhere. Reload it, or keep yours (above the drawing).' : '';
  }

  // A "topology" message of the lab's websocket.
  async received(msg) {
    if (!msg || msg.deleted || !msg.updated) return; // a deletion: the socket says "gone" next
    if (this.saving) await this.saving; // a save of this page's own may be what it is about
    if (msg.updated === this.known) return;
    await new Promise((r) => setTimeout(r, GRACE_MS));
    if (msg.updated === this.known) return;
    let now;
    try { now = await api.get(this.ed.config.id); } catch { return; } // gone: the socket says so
    if (now.updated === this.known) return;
    if (this.ours(now.document)) { this.adopt(now); return; }
    this.show(now);
  }

  // The topology was deleted (the socket's "gone"): nothing here can be saved over it any more.
  gone(msg) {
    if (!msg || msg.reason !== 'deleted') return;
    this.theirs = null;
    this.banner.replaceChildren(el('span', {class: 'stale-text'}, `${msg.message} What you see is only in this tab now.`));
    this.banner.hidden = false;
  }

  show(topology) {
    this.theirs = topology;
    const when = new Date(topology.updated).toLocaleTimeString();
    const readonly = this.ed.config.readonly;
    const reload = el('button', {class: 'btn btn-small btn-primary', type: 'button', id: 'stale-reload',
      title: 'Show the topology as it is saved now (Undo brings this tab\'s version back)', onclick: () => this.reload()}, 'Reload');
    const keep = readonly ? null : el('button', {class: 'btn btn-small', type: 'button', id: 'stale-keep',
      title: 'Save this tab\'s version over the other one', onclick: () => this.keepMine()}, 'Keep mine (overwrite)');
    this.banner.replaceChildren(
      el('span', {class: 'stale-text'}, `This topology was changed elsewhere (in another tab, the API or the command line) at ${when}.`),
      reload, keep);
    this.banner.hidden = false;
  }

  hide() {
    if (!this.theirs) return;
    this.theirs = null;
    this.banner.hidden = true;
    this.banner.replaceChildren();
  }

  async reload() {
    const theirs = this.theirs;
    let now = theirs;
    try { now = await api.get(this.ed.config.id); } catch (e) { this.hooks.status(`Could not reload: ${e.message}`, 'error'); return; }
    this.adopt(now);
    this.hide();
    this.hooks.reload(now);
    this.hooks.status(`Reloaded the version saved at ${new Date(now.updated).toLocaleTimeString()}.`, 'ok');
  }

  async keepMine() {
    if (!this.theirs) return;
    this.known = this.theirs.updated; // over theirs, knowingly
    this.copy = canonical(this.theirs.document);
    this.hide();
    await this.hooks.save();
  }
}
