// The live sockets. LiveSocket is what they share: it reconnects with back-off (1 s, doubling up to 15 s)
// when the socket drops, except after a close with code 4403 (not, or no longer, the user's to follow:
// signed out, the topology gone...), where retrying cannot help: it stops for good, and the "gone" message
// sent just before (if one came) says why. Its subclasses say what a message means and what to show.
//
// Live is the lab's live state over /ws/topologies/<id>/ (topology/broadcast.py documents the messages):
// a snapshot first, then lab, node, link and events messages (events always batched), and gone
// (topology/websockets/lab.py) before a close with 4403; it says so through onGone.

export class LiveSocket {
  // path: the socket's path (/ws/...); handlers: the subclass's callbacks, kept as this.h.
  constructor(path, handlers) {
    this.path = path;
    this.h = handlers;
    this.delay = 1000;
    this.closed = false;
    this.connect();
  }

  connect() {
    const proto = location.protocol === 'https:' ? 'wss' : 'ws';
    const ws = new WebSocket(`${proto}://${location.host}${this.path}`);
    this.ws = ws;
    ws.onopen = () => { this.delay = 1000; this.opened(); };
    ws.onmessage = (m) => {
      let msg;
      try { msg = JSON.parse(m.data); } catch { return; }
      if (msg.type === 'gone') this.gone = msg;
      else this.received(msg);
    };
    ws.onclose = (event) => {
      if (this.closed) return;
      if (event.code === 4403) {
        this.closed = true;
        this.ended(this.gone || null);
        return;
      }
      this.dropped();
      setTimeout(() => this.connect(), this.delay);
      this.delay = Math.min(this.delay * 2, 15000);
    };
  }

  opened() {}          // connected (again)
  received(msg) {}     // a message other than gone
  dropped() {}         // the socket dropped: it reconnects
  ended(gone) {}       // closed with 4403: gone is the message that said why, or null

  close() { this.closed = true; if (this.ws) this.ws.close(); }
}

export class Live extends LiveSocket {
  // handlers: {onSnapshot(lab), onLab(msg), onNode(msg), onEvents(list), onLink(msg), onTopology(msg), onConnection(ok), onGone(msg)}
  constructor(id, handlers) {
    super(`/ws/topologies/${id}/`, handlers);
  }

  opened() { this.h.onConnection(true); }

  received(msg) {
    if (msg.type === 'snapshot') this.h.onSnapshot(msg.lab);
    else if (msg.type === 'lab') this.h.onLab(msg);
    else if (msg.type === 'node') this.h.onNode(msg);
    else if (msg.type === 'events') this.h.onEvents(msg.events || []);
    else if (msg.type === 'link' && this.h.onLink) this.h.onLink(msg);
    else if (msg.type === 'topology' && this.h.onTopology) this.h.onTopology(msg); // saved or deleted elsewhere
  }

  dropped() { this.h.onConnection(false); }

  ended(gone) {
    if (this.h.onGone) this.h.onGone(gone || {reason: 'forbidden', message: 'You cannot follow this lab any more. Sign in again.'});
  }
}
