// "Host unreachable" beside the lab's state (issue 17): the lab's host's lab worker has not answered lately.
// The server derives it when it is read (the lab's `host_unreachable`, in GET .../lab and the websocket's
// snapshot); no message says so when a host goes quiet, so while the lab holds something on its host this asks
// again every POLL_MS, and the badge goes as soon as the host is back. A stopped lab is on no host: no badge.
import {api} from './api.js';

export const POLL_MS = 15000;

export class HostReach {
  // badge: the element that says it, around the badge itself (hidden while the host answers).
  constructor(topologyId, badge) {
    this.id = topologyId;
    this.badge = badge;
    this.state = 'stopped';
    this.timer = null;
  }

  // A lab snapshot or message: what it says of the host, if anything, and its state (stopped: nothing to ask).
  seen(lab) {
    if (lab.state !== undefined) this.state = lab.state;
    if (lab.host_unreachable !== undefined) this.show(lab);
    if (this.state === 'stopped') this.show({host_unreachable: false});
    this.schedule();
  }

  show(lab) {
    this.badge.hidden = !lab.host_unreachable;  // (the badge's own display rule would win over its hidden)
    if (lab.host_unreachable) {
      this.badge.title = `The lab's host (${lab.host_queue}) has not answered lately: deploy, destroy, consoles and `
        + 'commands wait until it is back (or an administrator forgets the lab).';
    }
  }

  schedule() {
    if (this.state === 'stopped') {
      clearTimeout(this.timer);
      this.timer = null;
    } else if (this.timer === null) {
      this.timer = setTimeout(() => this.poll(), POLL_MS);
    }
  }

  async poll() {
    try {
      const lab = await api.lab(this.id);
      this.timer = null;
      this.seen(lab);
    } catch {
      this.timer = null;  // signed out or offline: the page says so elsewhere; ask again later
      this.schedule();
    }
  }
}
