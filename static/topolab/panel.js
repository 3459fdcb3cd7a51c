// The properties panel: edits everything the format holds for the selection.
// Each field is checked as you type (the server's own patterns, from the page's config);
// every change goes to the editor as a new document (panel edits of one field merge
// into one undo step).
import {el, kindIcon} from './dom.js';
import * as model from './document-model.js';
import {problemLine} from './problems.js';
import {IMPAIRMENTS, checkValue} from './link-live.js';
import {NodeLive} from './node-live.js';

export class Panel {
  constructor(root, editor) {
    this.root = root;
    this.ed = editor; // {doc, config, commit(doc, {key, source, renamed}), images, states, problemsFor(kind, index), terminalWhy(name), openTerminal(name, kind)}
    this.ref = {type: 'document'};
    this.nodeLive = new NodeLive(editor, {render: () => this.render()}); // a running lab's node: stop, start, restart
  }

  show(selection) {
    const {nodes, links} = selection;
    if (nodes.length === 1 && links.length === 0) this.ref = {type: 'node', name: nodes[0]};
    else if (links.length === 1 && nodes.length === 0) this.ref = {type: 'link', index: links[0]};
    else if (nodes.length + links.length > 1) this.ref = {type: 'many', nodes, links};
    else this.ref = {type: 'document'};
    this.render();
  }

  render() {
    const active = document.activeElement;
    const keepFocus = active && this.root.contains(active) && active.dataset.key ? active.dataset.key : null;
    this.root.replaceChildren();
    const doc = this.ed.doc;
    if (this.ref.type === 'node') {
      const i = (doc.nodes || []).findIndex((n) => n.name === this.ref.name);
      if (i < 0) { this.ref = {type: 'document'}; return this.render(); }
      this.renderNode(doc.nodes[i], i);
    } else if (this.ref.type === 'link') {
      if (!(doc.links || [])[this.ref.index]) { this.ref = {type: 'document'}; return this.render(); }
      this.renderLink(doc.links[this.ref.index], this.ref.index);
    } else if (this.ref.type === 'many') {
      this.renderMany();
    } else {
      this.renderDocument();
    }
    if (keepFocus) {
      const f = this.root.querySelector(`[data-key="${CSS.escape(keepFocus)}"]`);
      if (f) f.focus();
    }
  }

  // --- helpers --------------------------------------------------------------------------

  add(...items) { this.root.append(...items.filter((x) => x !== null && x !== undefined && x !== false)); }

  pattern(name) { return new RegExp(this.ed.config.patterns[name]); }

  section(title, open, ...body) {
    return el('details', {class: 'section', open: open || undefined}, el('summary', {}, title), ...body);
  }

  problems(kind, index) {
    const list = this.ed.problemsFor(kind, index);
    if (!list.length) return null;
    return el('ul', {class: 'problems'}, list.map((p) => el('li', {class: p.level}, problemLine(this.ed.doc, p))));
  }

  // A text field: check(value) returns an error sentence or ''; apply(value) commits. path: the document's JSON path
  // the field edits (nodes[0].image): the server's problems at or under it outline it and are said beside it
  // (serverProblem, markFields). warn(value): a sentence of caution ('' for none), shown under it, not an error;
  // help: a sentence under it, or a function of the value (said again as it is typed).
  field(label, value, {key, check, apply, placeholder, type = 'text', multiline = false, list, help, commitInvalid = true, width, path, warn} = {}) {
    const id = `f-${key.replace(/[^a-zA-Z0-9_-]/g, '_')}`;
    const err = el('span', {class: 'field-error', id: `${id}-err`, 'aria-live': 'polite'});
    const caution = warn ? el('span', {class: 'field-warning', id: `${id}-warn`, 'aria-live': 'polite'}) : null;
    const helpOf = typeof help === 'function' ? help : null;
    const helpText = help ? el('span', {class: 'help'}, helpOf ? '' : help) : null;
    const attrs = {id, 'data-key': key, 'data-path': path, placeholder, list, spellcheck: 'false', autocomplete: 'off',
      'aria-describedby': `${id}-err${warn ? ` ${id}-warn` : ''}`};
    const input = multiline ? el('textarea', {...attrs, rows: 4}) : el('input', {...attrs, type});
    if (width) input.style.width = width;
    input.value = value ?? '';
    const run = (commit) => {
      const v = input.value;
      const local = check ? check(v) : '';
      input.dataset.local = local || '';
      this.showFieldError(input, err);
      if (caution) caution.textContent = warn(v) || '';
      if (helpOf) { helpText.textContent = helpOf(v) || ''; helpText.hidden = !helpText.textContent; }
      if (commit && (!local || commitInvalid)) apply(v);
    };
    input.addEventListener('input', () => run(true));
    run(false);
    return el('label', {class: 'field', for: id}, el('span', {class: 'label'}, label), input, helpText, caution, err);
  }

  select(label, value, options, {key, apply, path}) {
    const s = el('select', {'data-key': key, 'data-path': path}, options.map((o) => el('option', {value: o, selected: o === value || undefined}, o)));
    s.addEventListener('change', () => apply(s.value));
    const err = el('span', {class: 'field-error', 'aria-live': 'polite'});
    if (path) { const id = `f-${key.replace(/[^a-zA-Z0-9_-]/g, '_')}`; s.id = id; err.id = `${id}-err`; s.setAttribute('aria-describedby', err.id); }
    this.showFieldError(s, err);
    return el('label', {class: 'field'}, el('span', {class: 'label'}, label), s, err);
  }

  // The server's problem about the field at `path` ('' when none): at that path or under it (addresses[1] of addresses).
  serverProblem(path) {
    if (!path) return '';
    const found = (this.ed.problems || []).filter((p) => p.level === 'error' && typeof p.path === 'string'
      && (p.path === path || p.path.startsWith(`${path}[`) || p.path.startsWith(`${path}.`)));
    // Paths in the sentence in words, as the status line says them: "at c1 eth0 address 1".
    return found.map((p) => p.message.replace(/(?:nodes|links)\[\d+\][\w.[\]]*/g, (at) => model.describePath(this.ed.doc, at))).join('; ');
  }

  // A field's own check first (what is typed now), else the server's problem at its path: the red outline,
  // aria-invalid and the sentence beside it.
  showFieldError(input, err) {
    const message = input.dataset.local || this.serverProblem(input.dataset.path);
    err.textContent = message;
    input.classList.toggle('invalid', !!message);
    input.setAttribute('aria-invalid', message ? 'true' : 'false');
  }

  // The server's problems changed while the user types in the panel (it is not drawn again then): outline anew.
  markFields() {
    for (const input of this.root.querySelectorAll('[data-path]')) {
      const err = input.id ? document.getElementById(`${input.id}-err`) : null;
      if (err) this.showFieldError(input, err);
    }
  }

  commitNode(name, change, key, extra = {}) {
    this.ed.commit(model.updateNode(this.ed.doc, name, change), {key, source: 'panel', ...extra});
  }

  commitLink(index, change, key) {
    this.ed.commit(model.updateLink(this.ed.doc, index, change), {key, source: 'panel'});
  }

  // Rows of key/value pairs (sysctls, env) edited as an object. path: the object's JSON path; the server names
  // the key it refuses in its sentence ('kernel.x' is not allowed...): that key's field is outlined with it.
  pairs(title, obj, {key, keyCheck, valuePlaceholder, keyPlaceholder, apply, path}) {
    const entries = Object.entries(obj || {});
    const rows = el('div', {class: 'rows'});
    const write = () => {
      const out = {};
      rows.querySelectorAll('.row').forEach((r) => { const [k, v] = r.querySelectorAll('input'); if (k.value) out[k.value] = v.value; });
      apply(out);
    };
    const addRow = (k = '', v = '', n) => {
      const ki = el('input', {value: k, placeholder: keyPlaceholder, 'data-key': `${key}.k${n}`, spellcheck: 'false', 'aria-label': `${title} key`});
      const vi = el('input', {value: v, placeholder: valuePlaceholder, 'data-key': `${key}.v${n}`, spellcheck: 'false', 'aria-label': `${title} value`});
      const err = el('span', {class: 'field-error'});
      const check = () => {
        const server = this.serverProblem(path);
        const m = (ki.value && keyCheck ? keyCheck(ki.value) : '') || (ki.value && server.includes(`'${ki.value}'`) ? server : '');
        err.textContent = m; ki.classList.toggle('invalid', !!m); ki.setAttribute('aria-invalid', m ? 'true' : 'false');
      };
      ki.addEventListener('input', () => { check(); write(); });
      vi.addEventListener('input', write);
      check();
      const row = el('div', {class: 'row'}, ki, vi, el('button', {class: 'btn btn-small btn-quiet', title: 'Remove', 'aria-label': 'Remove', onclick: () => { row.remove(); write(); this.render(); }}, '✕'), err);
      rows.append(row);
      return ki;
    };
    entries.forEach(([k, v], n) => addRow(k, v, n));
    const add = el('button', {class: 'btn btn-small', onclick: () => addRow('', '', rows.children.length).focus()}, `+ add`);
    return [rows, add];
  }

  // --- the document (nothing selected) ------------------------------------------------

  renderDocument() {
    const doc = this.ed.doc;
    const re = this.pattern('documentName');
    this.add(
      el('h2', {class: 'pane-title'}, 'Topology'),
      this.field('Name', doc.name, {key: 'doc.name', path: 'name', check: (v) => (re.test(v) ? '' : `“${v}” ${this.ed.config.rules.documentName}`),
        commitInvalid: false, apply: (v) => this.ed.commit({...structuredClone(this.ed.doc), name: v}, {key: 'doc.name', source: 'panel'})}),
      this.field('Description', doc.description, {key: 'doc.description', path: 'description', multiline: true,
        check: (v) => (v.length > 4000 ? 'at most 4,000 characters' : ''),
        apply: (v) => { const d = structuredClone(this.ed.doc); if (v) d.description = v; else delete d.description; this.ed.commit(d, {key: 'doc.description', source: 'panel'}); }}),
      el('p', {class: 'muted'}, `${(doc.nodes || []).length} nodes, ${(doc.links || []).length} links.`),
      this.problems('document', -1),
      el('p', {class: 'hint'}, 'Select a node or a link to edit it. Shift-click or Shift-drag selects several. Press ? for the keyboard.'),
    );
  }

  renderMany() {
    const {nodes, links} = this.ref;
    this.add(
      el('h2', {class: 'pane-title'}, 'Selection'),
      el('p', {}, `${nodes.length} node${nodes.length === 1 ? '' : 's'}, ${links.length} link${links.length === 1 ? '' : 's'}`),
      el('p', {class: 'muted'}, nodes.join(', ')),
      el('button', {class: 'btn btn-danger-quiet', onclick: () => this.ed.deleteSelection()}, 'Delete selection'),
    );
  }

  // --- a node ---------------------------------------------------------------------------

  renderNode(node, index) {
    const doc = this.ed.doc;
    const name = node.name;
    const kind = node.kind || model.defaultKindName();
    const info = model.kindInfo(kind); // undefined for a kind the server does not know
    const st = this.ed.states[name];
    const nameRe = this.pattern('nodeName');
    const imageRe = this.pattern('image');
    const header = el('div', {class: 'panel-head'},
      el('h2', {class: 'pane-title'}, kindIcon(info), el('span', {class: 'title-text'}, `${name} · ${kind}`)),
      st && st.state && st.state !== 'none' ? el('span', {class: 'badge', 'data-state': st.state}, st.state) : null);
    this.add(header, this.terminalButtons(name));
    const live = this.nodeLive.shown();
    if (live) this.add(this.nodeLive.section(this, name)); // its state, Stop / Start / Restart (node-live.js)
    else if (st && st.reason) this.add(el('p', {class: 'alert'}, st.reason));
    if (!live && st && (st.state === 'exited' || st.state === 'gone')) {
      this.add(el('p', {class: 'hint'}, `${name} stopped behind Topolab's back. Destroy the lab, then deploy it again, to bring it back.`));
    }
    const problems = this.problems('node', index);
    if (problems) this.add(problems);
    this.add(
      this.field('Name', name, {key: `node.name`, path: `nodes[${index}].name`, commitInvalid: false,
        check: (v) => (!nameRe.test(v) ? 'starts with a lower-case letter; letters, digits, dashes; up to 31'
          : v !== this.ref.name && model.nodeByName(this.ed.doc, v) ? `there is already a node named '${v}'` : ''),
        apply: (v) => { const from = this.ref.name; if (v === from) return; this.ref = {type: 'node', name: v};
          this.ed.commit(model.renameNode(this.ed.doc, from, v), {key: 'node.name', source: 'panel', renamed: {[from]: v}});
          const title = this.root.querySelector('.panel-head .title-text'); if (title) title.textContent = `${v} · ${kind}`; }}),
      this.select('Kind', kind, model.kindNames(), {key: 'node.kind', path: `nodes[${index}].kind`, apply: (v) => this.commitNode(this.ref.name, (n) => ({...n, kind: v}), null, {source: 'kind'})}),
      this.field('Image', node.image, {key: 'node.image', path: `nodes[${index}].image`, list: 'image-list', placeholder: info && info.defaultImage,
        help: (v) => this.imageHelp(v || (info && info.defaultImage)),
        // Typed or the kind's default: an image this host has not built, or does not know (host-support.js).
        warn: (v) => (this.ed.support ? this.ed.support.imageWarning(v || (info && info.defaultImage)) : ''),
        check: (v) => (v && !imageRe.test(v) ? 'not a Docker image reference' : ''),
        apply: (v) => this.commitNode(this.ref.name, (n) => ({...n, image: v || undefined}), 'node.image')}),
    );
    // Interfaces: the ends of this node's links.
    const ifaces = model.interfacesOf(doc, name);
    const ifBody = el('div', {class: 'ifaces'});
    if (!ifaces.length) ifBody.append(el('p', {class: 'muted'}, 'No links yet: drag from this node\'s ● handle to another node.'));
    for (const f of ifaces) {
      const peer = doc.links[f.link].endpoints[1 - f.end];
      ifBody.append(el('div', {class: 'iface'},
        el('div', {class: 'iface-peer muted'}, `to ${peer ? `${peer.node} ${peer.interface || ''}` : '?'}`),
        this.interfaceField(f.link, f.end, `node.if${f.link}.${f.end}`),
        model.bridges(kind) ? null : this.addressesField(f.link, f.end, `node.ad${f.link}.${f.end}`)));
    }
    this.add(this.section(`Interfaces (${ifaces.length})`, true, ifBody));
    this.add(this.section(`Routes (${(node.routes || []).length})`, (node.routes || []).length > 0 || model.isEndSystem(kind) || !!this.serverProblem(`nodes[${index}].routes`),
      ...this.routes(node, index)));
    this.add(this.section(`Sysctls (${Object.keys(node.sysctls || {}).length})`, !!this.serverProblem(`nodes[${index}].sysctls`), ...this.pairs('Sysctl', node.sysctls, {key: 'node.sysctls', path: `nodes[${index}].sysctls`,
      keyPlaceholder: 'net.ipv4.ip_forward', valuePlaceholder: '1',
      keyCheck: (k) => (this.pattern('sysctl').test(k) && !k.includes('..') && !k.endsWith('.') ? '' : 'only keys under net.ipv4., net.ipv6. and net.core.'),
      apply: (o) => this.commitNode(this.ref.name, (n) => ({...n, sysctls: o}), 'node.sysctls')})));
    this.add(this.section(`Environment (${Object.keys(node.env || {}).length})`, !!this.serverProblem(`nodes[${index}].env`), ...this.pairs('Variable', node.env, {key: 'node.env', path: `nodes[${index}].env`,
      keyPlaceholder: 'NAME', valuePlaceholder: 'value', keyCheck: (k) => (this.pattern('envKey').test(k) ? '' : 'letters, digits and _; not starting with a digit'),
      apply: (o) => this.commitNode(this.ref.name, (n) => ({...n, env: o}), 'node.env')})));
    const frr = this.ed.frr ? this.ed.frr.section(this, node) : null; // an frr node's tools (frr-panel.js), its files open
    if (frr) this.add(frr);
    this.add(this.section(`Files (${(node.files || []).length})`, !!frr || !!this.serverProblem(`nodes[${index}].files`), ...this.files(node, index)));
    this.add(this.section(`Commands (${(node.exec || []).length})`, !!this.serverProblem(`nodes[${index}].exec`), this.field('One command per line, run in order once links and routes are up', (node.exec || []).join('\n'), {
      key: 'node.exec', path: `nodes[${index}].exec`, multiline: true, placeholder: 'ip addr',
      apply: (v) => this.commitNode(this.ref.name, (n) => ({...n, exec: v.split('\n').filter((s) => s.trim())}), 'node.exec')})));
    this.add(this.section('Resources', !!this.serverProblem(`nodes[${index}].resources`), ...this.resources(node, index)));
    this.add(el('button', {class: 'btn btn-danger-quiet', onclick: () => this.ed.deleteSelection()}, 'Delete node'));
  }

  // Console and Logs, usable while the node runs; otherwise the title says why not.
  terminalButtons(name) {
    const why = this.ed.terminalWhy(name);
    const button = (label, kind, hint) => el('span', {class: 'btn-wrap', title: why || hint},
      el('button', {class: 'btn btn-small', disabled: !!why, 'aria-disabled': why ? 'true' : 'false', 'aria-description': why || undefined,
        onclick: () => this.ed.openTerminal(this.ref.name, kind)}, label));
    return el('div', {class: 'row-buttons node-actions'},
      button('Console', 'console', `A shell on ${name} (or double-click the node)`),
      button('Logs', 'logs', `What ${name}'s main process prints, followed live`),
      // FRR's own shell on an frr node (its own dock tab); a supervisor watches the student's console only.
      this.ed.frr && !this.ed.config.readonly && this.ed.frr.runs(model.kindOf(this.ed.doc, name)) ? button('vtysh', 'vtysh', `FRR's shell (vtysh) on ${name}`) : null);
  }

  // Where all is well, so: an image of this host's that is built (what is not is the field's warning, host-support.js).
  imageHelp(image) {
    const img = (this.ed.images || []).find((i) => i.name === image || `${i.name}:latest` === image);
    if (!img || !img.present) return '';
    return img.up_to_date === false ? 'on this host, outdated (rebuild it with manage.py lab images --build)' : 'on this host';
  }

  interfaceField(link, end, key) {
    const re = this.pattern('interface');
    const ep = this.ed.doc.links[link].endpoints[end];
    return this.field('Interface', ep.interface, {key, width: '8em', path: `links[${link}].endpoints[${end}].interface`,
      check: (v) => (!re.test(v) || v === 'lo' ? 'a letter, then letters, digits, _ . -; up to 15; not lo'
        : model.interfacesOf(this.ed.doc, ep.node).some((f) => f.interface === v && !(f.link === link && f.end === end)) ? `${ep.node} already has ${v}` : ''),
      apply: (v) => this.commitLink(link, (l) => { l.endpoints[end].interface = v; return l; }, key)});
  }

  addressesField(link, end, key) {
    const ep = this.ed.doc.links[link].endpoints[end];
    return this.field('Addresses', (ep.addresses || []).join(', '), {key, path: `links[${link}].endpoints[${end}].addresses`, placeholder: '192.168.10.2/24, 2001:db8::2/64',
      check: (v) => splitList(v).map(model.checkInterfaceAddress).filter(Boolean).join('; '),
      apply: (v) => this.commitLink(link, (l) => { const a = splitList(v); if (a.length) l.endpoints[end].addresses = a; else delete l.endpoints[end].addresses; return l; }, key)});
  }

  routes(node, index) {
    const rows = el('div', {class: 'rows'});
    const routes = node.routes || [];
    routes.forEach((r, i) => {
      const mode = r.dev !== undefined && r.via === undefined ? 'dev' : 'via';
      rows.append(el('div', {class: 'route'},
        this.field('To', r.to, {key: `node.route${i}.to`, path: `nodes[${index}].routes[${i}].to`, placeholder: 'default or 10.1.0.0/16', width: '10em',
          check: (v) => (v === 'default' || /^[0-9a-fA-F.:]+\/\d+$/.test(v) ? '' : "'default' or a network like 10.1.0.0/16"),
          apply: (v) => this.commitNode(this.ref.name, (n) => { n.routes[i].to = v; return n; }, `node.route${i}.to`)}),
        this.field(mode === 'via' ? 'Via' : 'Dev', mode === 'via' ? r.via : r.dev, {key: `node.route${i}.${mode}`, path: `nodes[${index}].routes[${i}].${mode}`, width: '9em',
          placeholder: mode === 'via' ? '192.168.10.1' : 'eth0',
          check: (v) => (mode === 'via' ? (/^[0-9a-fA-F.:]+$/.test(v) ? '' : 'an IP address') : (this.pattern('interface').test(v) ? '' : 'an interface name')),
          apply: (v) => this.commitNode(this.ref.name, (n) => { n.routes[i][mode] = v; return n; }, `node.route${i}.${mode}`)}),
        el('button', {class: 'btn btn-small btn-quiet', title: 'Remove this route', 'aria-label': 'Remove this route',
          onclick: () => { this.commitNode(this.ref.name, (n) => { n.routes.splice(i, 1); return n; }, null); this.render(); }}, '✕')));
    });
    const add = (r) => () => { this.commitNode(this.ref.name, (n) => ({...n, routes: [...(n.routes || []), r]}), null); this.render();
      const f = this.root.querySelector(`[data-key="node.route${routes.length}.to"]`); if (f) f.focus(); };
    return [rows, el('div', {class: 'row-buttons'},
      el('button', {class: 'btn btn-small', onclick: add({to: 'default', via: ''})}, '+ via a gateway'),
      el('button', {class: 'btn btn-small', onclick: add({to: '', dev: 'eth0'})}, '+ through an interface'))];
  }

  files(node, index) {
    const rows = el('div', {class: 'rows'});
    (node.files || []).forEach((f, i) => {
      rows.append(el('div', {class: 'file'},
        el('div', {class: 'row'},
          this.field('Path', f.path, {key: `node.file${i}.path`, path: `nodes[${index}].files[${i}].path`, placeholder: '/etc/frr/frr.conf',
            check: (v) => (v.startsWith('/') && !v.split('/').includes('..') ? '' : 'an absolute path without ..'),
            apply: (v) => this.commitNode(this.ref.name, (n) => { n.files[i].path = v; return n; }, `node.file${i}.path`)}),
          this.field('Mode', f.mode, {key: `node.file${i}.mode`, path: `nodes[${index}].files[${i}].mode`, placeholder: '0644', width: '5em',
            check: (v) => (!v || this.pattern('mode').test(v) ? '' : 'octal, like 0644'),
            apply: (v) => this.commitNode(this.ref.name, (n) => { if (v) n.files[i].mode = v; else delete n.files[i].mode; return n; }, `node.file${i}.mode`)})),
        this.field('Content', f.content, {key: `node.file${i}.content`, path: `nodes[${index}].files[${i}].content`, multiline: true,
          check: (v) => (new Blob([v]).size > 256 * 1024 ? 'at most 256 KiB' : ''),
          apply: (v) => this.commitNode(this.ref.name, (n) => { n.files[i].content = v; return n; }, `node.file${i}.content`)}),
        el('button', {class: 'btn btn-small btn-quiet', onclick: () => { this.commitNode(this.ref.name, (n) => { n.files.splice(i, 1); return n; }, null); this.render(); }}, 'Remove file')));
    });
    return [rows, el('button', {class: 'btn btn-small', onclick: () => { this.commitNode(this.ref.name, (n) => ({...n, files: [...(n.files || []), {path: '/', content: ''}]}), null); this.render(); }}, '+ add a file')];
  }

  resources(node, index) {
    const caps = this.ed.config.limits.maxResources;
    const r = node.resources || {};
    const num = (label, k, {integer, placeholder}) => this.field(label, r[k], {key: `node.res.${k}`, path: `nodes[${index}].resources.${k}`, placeholder, width: '7em',
      check: (v) => { if (!v) return ''; const x = Number(v); if (!Number.isFinite(x) || x <= 0 || (integer && !Number.isInteger(x))) return integer ? 'a whole number above 0' : 'a number above 0';
        return x > caps[k] ? `at most ${caps[k]} on this server` : ''; },
      apply: (v) => this.commitNode(this.ref.name, (n) => { const res = {...(n.resources || {})}; if (v === '') delete res[k]; else res[k] = Number.isFinite(Number(v)) ? Number(v) : v; return {...n, resources: res}; }, `node.res.${k}`)});
    return [num('CPUs', 'cpus', {placeholder: '1'}), num('Memory (MB)', 'memory_mb', {integer: true, placeholder: '256'}), num('Processes', 'pids', {integer: true, placeholder: '256'})];
  }

  // --- a link ---------------------------------------------------------------------------

  renderLink(link, index) {
    const [a, b] = link.endpoints;
    this.add(el('h2', {class: 'pane-title'}, `Link ${a.node} ${a.interface} — ${b.node} ${b.interface}`));
    const problems = this.problems('link', index);
    if (problems) this.add(problems);
    // On a running lab the state and the impairment change the lab itself (link-live.js), first in the panel;
    // stopped, they are document fields like the others.
    const links = this.ed.links;
    const live = !!(links && links.live());
    if (live) this.add(links.section(this, link, index));
    const watch = !live && links ? links.watchSection(this, link) : null; // a supervisor's Capture (link-live.js)
    if (watch) this.add(watch);
    link.endpoints.forEach((ep, end) => {
      const bridged = model.bridges(model.kindOf(this.ed.doc, ep.node)); // a switch port
      const macRe = this.pattern('mac');
      this.add(this.section(`${ep.node}`, true,
        this.interfaceField(index, end, `link.if${end}`),
        bridged ? el('p', {class: 'muted'}, 'A switch port carries no addresses.') : this.addressesField(index, end, `link.ad${end}`),
        this.field('MAC', ep.mac, {key: `link.mac${end}`, path: `links[${index}].endpoints[${end}].mac`, placeholder: 'automatic', width: '12em',
          check: (v) => (!v || macRe.test(v) ? '' : 'six pairs of hex digits, like 02:00:00:00:00:01'),
          apply: (v) => this.commitLink(index, (l) => { if (v) l.endpoints[end].mac = v; else delete l.endpoints[end].mac; return l; }, `link.mac${end}`)})));
    });
    this.add(this.section('Link', true,
      live ? null : this.select('State', link.state || 'up', ['up', 'down'], {key: 'link.state', path: `links[${index}].state`, apply: (v) => this.commitLink(index, (l) => ({...l, state: v === 'up' ? undefined : v}), null)}),
      this.field('MTU', link.mtu, {key: 'link.mtu', path: `links[${index}].mtu`, placeholder: 'kernel default', width: '7em',
        check: (v) => { if (!v) return ''; const x = Number(v); return Number.isInteger(x) && x >= 68 && x <= 65535 ? '' : 'a whole number from 68 to 65535'; },
        apply: (v) => this.commitLink(index, (l) => ({...l, mtu: v === '' ? undefined : (Number.isFinite(Number(v)) ? Number(v) : v)}), 'link.mtu')})));
    if (!live) {
      const imp = link.impairment || {};
      const impField = (f) => this.field(f.label, imp[f.key], {key: `link.imp.${f.key}`, path: `links[${index}].impairment.${f.key}`, placeholder: 'none', width: '7em',
        help: links ? links.documentHelp(f) : '', check: (v) => checkValue(f, v),
        apply: (v) => this.commitLink(index, (l) => { const i = {...(l.impairment || {})}; if (v === '') delete i[f.key]; else i[f.key] = Number.isFinite(Number(v)) ? Number(v) : v;
          const out = {...l, impairment: i}; if (!Object.keys(i).length) delete out.impairment; return out; }, `link.imp.${f.key}`)});
      this.add(this.section('Impairment (both directions)', !!link.impairment || !!this.serverProblem(`links[${index}].impairment`), ...IMPAIRMENTS.map(impField)));
    }
    this.add(el('button', {class: 'btn btn-danger-quiet', onclick: () => this.ed.deleteSelection()}, 'Delete link'));
  }
}

function splitList(v) {
  return v.split(/[,\s]+/).map((s) => s.trim()).filter(Boolean);
}
