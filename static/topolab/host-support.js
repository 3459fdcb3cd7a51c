// What this host can deploy (issue 13, "Honest controls"), said where the user chooses, not only after Deploy:
// a kind whose image is not built here gets a badge in the palette (still addable: the topology may be deployed
// on another host), the node panel's image field warns about an image this host lacks or does not know, and
// Deploy says which nodes cannot start here and why before it is clicked.
//
// The images come from GET /api/v1/images (the root worker asks Docker; topology/images.py's recipes, each with
// the kinds whose default image it is); until they come, or when they cannot, nothing is claimed. A kind the
// engine cannot deploy at all says so from the page's config (deployRefusal, topology/kinds.py).
import * as model from './document-model.js';

// The command that builds the node images (README, "lab images"); the engine's refusal says the same.
export const BUILD_COMMAND = 'manage.py lab images --build';

// "topolab/frr:latest" and "topolab/frr" are the same image.
const bare = (image) => String(image || '').replace(/:latest$/, '');

export class HostSupport {
  constructor() {
    this.images = null; // [{name, kinds, present, up_to_date}] once known; null: not known (nothing is claimed)
  }

  setImages(list) {
    this.images = Array.isArray(list) ? list : null;
  }

  // This host's record of an image: {name, present, up_to_date} for one of its recipes, null otherwise.
  recipe(image) {
    return (this.images || []).find((i) => i.name === bare(image)) || null;
  }

  // The image a node runs: its own, else its kind's default.
  imageOf(node) {
    const info = model.kindInfo(node.kind || model.defaultKindName());
    return node.image || (info && info.defaultImage) || '';
  }

  // Why a kind cannot be deployed on this host ('' when it can, or when the images are not known yet).
  kindWhy(kind) {
    const info = model.kindInfo(kind);
    if (!info) return '';
    if (info.deployable === false) return `not deployable: ${info.deployRefusal || 'the engine cannot run it yet'}`;
    return this.missing(info.defaultImage);
  }

  // Why an image cannot run here ('' when it can, or is not known): one of this host's images, not built.
  missing(image) {
    const r = this.recipe(image);
    if (!this.images || !r || r.present) return '';
    return `not deployable here: image ${r.name} is not built — run ${BUILD_COMMAND}`;
  }

  // The node panel's word on an image ('' when all is well): not built here, or not one this host knows.
  imageWarning(image) {
    if (!this.images || !image) return '';
    const gap = this.missing(image);
    if (gap) return gap.replace(/^not deployable here/, 'Not deployable here');
    if (!this.recipe(image)) {
      const known = this.images.map((i) => i.name).join(', ');
      return `Not one of this host's images (${known || 'none'}): a deploy here fails unless Docker on this host has ${image}.`;
    }
    return '';
  }

  // The nodes of `doc` that cannot start here, by image: [{image, nodes: [name]}], for images known missing.
  blocked(doc) {
    const out = new Map();
    for (const n of (doc && doc.nodes) || []) {
      const image = this.imageOf(n);
      const r = this.recipe(image);
      if (!this.images || !r || r.present) continue;
      if (!out.has(r.name)) out.set(r.name, []);
      out.get(r.name).push(n.name);
    }
    return [...out].map(([image, nodes]) => ({image, nodes}));
  }

  // Nodes whose image is none of this host's: it may still be in Docker, so a deploy is not refused here.
  unknown(doc) {
    if (!this.images) return [];
    return ((doc && doc.nodes) || []).filter((n) => !this.recipe(this.imageOf(n))).map((n) => ({node: n.name, image: this.imageOf(n)}));
  }

  // Why Deploy is disabled on this host ('' when nothing known stops it): which nodes, which image, what to run.
  deployWhy(doc) {
    const groups = this.blocked(doc);
    if (!groups.length) return '';
    const parts = groups.map(({image, nodes}) => `${names(nodes)} need${nodes.length === 1 ? 's' : ''} image ${image}, which is not built`);
    return `Cannot deploy on this host: ${parts.join('; ')}. Run ${BUILD_COMMAND} (as root), then reload.`;
  }

  // What Deploy's tooltip adds while it is enabled ('' when nothing): images this host does not know.
  deployCaveat(doc) {
    const odd = this.unknown(doc);
    if (!odd.length) return '';
    return `Deploy ▶ — ${odd.map((o) => `${o.node} runs ${o.image}`).join(', ')}: not one of this host's images; the deploy fails unless Docker here has it.`;
  }

  // Mark the palette's kind buttons: a badge and the reason in the title; they stay usable.
  paintPalette(buttons) {
    for (const b of buttons) {
      const why = this.kindWhy(b.dataset.kind);
      if (!b.dataset.title) b.dataset.title = b.title;
      let badge = b.querySelector('.kind-badge');
      b.classList.toggle('cannot-deploy', !!why);
      if (why) {
        if (!badge) { badge = document.createElement('span'); badge.className = 'kind-badge'; b.append(badge); }
        badge.textContent = 'not here';
        b.title = `${b.dataset.title}\n${why[0].toUpperCase()}${why.slice(1)}`;
        b.setAttribute('aria-description', why);
      } else {
        if (badge) badge.remove();
        b.title = b.dataset.title;
        b.removeAttribute('aria-description');
      }
    }
  }
}

function names(list) {
  if (list.length <= 3) return list.length > 1 ? `${list.slice(0, -1).join(', ')} and ${list[list.length - 1]}` : list[0];
  return `${list.slice(0, 3).join(', ')} and ${list.length - 3} more`;
}
