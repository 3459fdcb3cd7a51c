// The lab's live state over the websocket /ws/topologies/<id>/ (topology/broadcast.py documents
// the messages): a snapshot first, then lab, node and events messages (events always batched),
// and gone (topology/websockets/lab.py) before a close with code 4403: signed out, or the
// topology is gone. Reconnects with back-off, except after 4403: then it says so through onGone.

export class Live {
  constructor(id, handlers) {
    this.id = id;
    // {onSnapshot(lab), onLab(msg), onNode(msg), onEvents(list), onConnection(ok), onGone(msg)}
    this.h = handlers;
    this.delay = 1000;
    this.closed = false;
    this.connect();
  }

  connect() {
    const proto = location.protocol === 'https:' ? 'wss' : 'ws';
    const ws = new WebSocket(`${proto}://${location.host}/ws/topologies/${this.id}/`);
    this.ws = ws;
    ws.onopen = () => { this.delay = 1000; this.h.onConnection(true); };
    ws.onmessage = (m) => {
      let msg;
      try { msg = JSON.parse(m.data); } catch { return; }
      if (msg.type === 'snapshot') this.h.onSnapshot(msg.lab);
      else if (msg.type === 'lab') this.h.onLab(msg);
      else if (msg.type === 'node') this.h.onNode(msg);
      else if (msg.type === 'events') this.h.onEvents(msg.events || []);
      else if (msg.type === 'gone') this.gone = msg;
    };
    ws.onclose = (event) => {
      if (this.closed) return;
      if (event.code === 4403) {
        // Not (or no longer) ours: signed out, or the topology was deleted. Retrying cannot help.
        this.closed = true;
        if (this.h.onGone) this.h.onGone(this.gone || {reason: 'forbidden', message: 'You cannot follow this lab any more. Sign in again.'});
        return;
      }
      this.h.onConnection(false);
      setTimeout(() => this.connect(), this.delay);
      this.delay = Math.min(this.delay * 2, 15000);
    };
  }

  close() { this.closed = true; if (this.ws) this.ws.close(); }
}
