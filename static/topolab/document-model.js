// The topolab/v1 document and the edits the editor makes to it: pure functions, no DOM.
// Every edit takes a document and returns a new one (the input is never changed),
// so the editor can keep snapshots for undo/redo.
// The node kinds are the server's (topology/kinds.py, served in the page's config): the page
// hands them over once with setKinds(); nothing here names a kind.

export const FORMAT = 'topolab/v1';

// --- kinds ----------------------------------------------------------------------------

let registry = null; // kind name -> {name, prefix, forwards, bridge, defaultImage, shape, colour, size, ...}
let defaultKind = null; // the kind of a node that says none

// kinds: the config's list, in the registry's order; fallback: the config's defaultKind.
export function setKinds(kinds, fallback) {
  registry = new Map(kinds.map((k) => [k.name, k]));
  defaultKind = fallback;
}

// No kinds is a page (or a test) that forgot to pass them: say so, rather than guess.
function known() {
  if (!registry) throw new Error('document-model: setKinds() was not called; the kinds come from the server');
  return registry;
}

// The registry's entry for a kind; undefined for a kind it does not know (a document not yet checked).
export const kindInfo = (kind) => known().get(kind);
export const kindNames = () => [...known().keys()];
export const defaultKindName = () => { known(); return defaultKind; };
// Routes packets: forwarding on, the lowest address of a subnet, the gateway of end systems.
export const forwards = (kind) => { const k = kindInfo(kind); return !!k && k.forwards; };
// Joins its interfaces with a bridge (a switch): they carry no addresses.
export const bridges = (kind) => { const k = kindInfo(kind); return !!k && k.bridge !== null; };
// Neither forwards nor bridges (a host): it gets a default route via a node that forwards.
export const isEndSystem = (kind) => !!kindInfo(kind) && !forwards(kind) && !bridges(kind);
const prefixOf = (kind) => { const k = kindInfo(kind); return (k && k.prefix) || 'n'; };

const clone = (x) => structuredClone(x);

export function emptyDocument(name) {
  return {format: FORMAT, name, nodes: [], links: []};
}

export function nodeByName(doc, name) {
  return (doc.nodes || []).find((n) => n.name === name);
}

export function kindOf(doc, name) {
  const n = nodeByName(doc, name);
  return n ? (n.kind || defaultKindName()) : undefined;
}

// The first free name "<prefix><k>" (k >= 1), not in the document nor in `taken`.
export function freeName(doc, prefix, taken = new Set()) {
  const names = new Set((doc.nodes || []).map((n) => n.name));
  for (let k = 1; ; k++) {
    const name = `${prefix}${k}`;
    if (!names.has(name) && !taken.has(name)) return name;
  }
}

export function addNode(doc, {kind = defaultKindName(), position, name} = {}) {
  const next = clone(doc);
  next.nodes = next.nodes || [];
  const node = {name: name || freeName(doc, prefixOf(kind)), kind};
  if (position) node.position = {x: Math.round(position.x), y: Math.round(position.y)};
  next.nodes.push(node);
  return {doc: next, name: node.name};
}

// Interfaces of a node used by links (all endpoints naming it).
export function interfacesOf(doc, name) {
  const used = [];
  (doc.links || []).forEach((link, li) => (link.endpoints || []).forEach((ep, ei) => {
    if (ep && ep.node === name) used.push({link: li, end: ei, interface: ep.interface, addresses: ep.addresses || []});
  }));
  return used;
}

// The node's next free ethN.
export function nextFreeInterface(doc, name, alsoTaken = []) {
  const used = new Set(interfacesOf(doc, name).map((i) => i.interface).concat(alsoTaken));
  for (let k = 0; ; k++) if (!used.has(`eth${k}`)) return `eth${k}`;
}

export function addLink(doc, a, b) {
  if (a === b || !nodeByName(doc, a) || !nodeByName(doc, b)) return {doc, index: -1};
  const next = clone(doc);
  next.links = next.links || [];
  const ia = nextFreeInterface(doc, a);
  const ib = nextFreeInterface(doc, b);
  next.links.push({endpoints: [{node: a, interface: ia}, {node: b, interface: ib}]});
  return {doc: next, index: next.links.length - 1};
}

export function removeElements(doc, {nodes = [], links = []}) {
  const gone = new Set(nodes);
  const goneLinks = new Set(links);
  const next = clone(doc);
  next.nodes = (next.nodes || []).filter((n) => !gone.has(n.name));
  next.links = (next.links || []).filter((l, i) => !goneLinks.has(i)
    && !(l.endpoints || []).some((ep) => ep && gone.has(ep.node)));
  return next;
}

export function renameNode(doc, from, to) {
  const next = clone(doc);
  for (const n of next.nodes || []) if (n.name === from) n.name = to;
  for (const l of next.links || []) for (const ep of l.endpoints || []) if (ep && ep.node === from) ep.node = to;
  return next;
}

export function moveNodes(doc, positions) {
  const next = clone(doc);
  for (const n of next.nodes || []) {
    const p = positions[n.name];
    if (p) n.position = {x: Math.round(p.x), y: Math.round(p.y)};
  }
  return next;
}

// Replace one node (by name) with `node` (used by the properties panel).
export function updateNode(doc, name, change) {
  const next = clone(doc);
  const i = (next.nodes || []).findIndex((n) => n.name === name);
  if (i >= 0) next.nodes[i] = prune(change(clone(next.nodes[i])));
  return next;
}

export function updateLink(doc, index, change) {
  const next = clone(doc);
  if (next.links && next.links[index]) next.links[index] = prune(change(clone(next.links[index])));
  return next;
}

// Drop keys holding an empty value, so the document stays as small as the user meant it.
export function prune(obj) {
  for (const [k, v] of Object.entries(obj)) {
    if (v === undefined || v === null || v === '') delete obj[k];
    else if (Array.isArray(v) && v.length === 0 && k !== 'endpoints') delete obj[k];
    else if (v && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length === 0) delete obj[k];
  }
  return obj;
}

// --- copy and paste -------------------------------------------------------------------

// The selected nodes and the links between them, as a fragment to paste.
export function copyFragment(doc, names) {
  const set = new Set(names);
  return {
    nodes: clone((doc.nodes || []).filter((n) => set.has(n.name))),
    links: clone((doc.links || []).filter((l) => (l.endpoints || []).every((ep) => ep && set.has(ep.node)))),
  };
}

// Paste a fragment: nodes get free names and move by `offset`; addresses and MACs are
// dropped (they would clash with the originals); links between pasted nodes follow.
export function pasteFragment(doc, fragment, offset = {x: 40, y: 40}) {
  const next = clone(doc);
  next.nodes = next.nodes || [];
  next.links = next.links || [];
  const renamed = {};
  const taken = new Set();
  for (const original of fragment.nodes) {
    const node = clone(original);
    const prefix = (original.name.match(/^(.*?)(\d+)$/) || [null, original.name])[1] || prefixOf(node.kind || defaultKindName());
    node.name = freeName(next, prefix, taken);
    taken.add(node.name);
    renamed[original.name] = node.name;
    if (node.position) node.position = {x: node.position.x + offset.x, y: node.position.y + offset.y};
    delete node.routes;
    next.nodes.push(node);
  }
  for (const original of fragment.links) {
    const link = clone(original);
    for (const ep of link.endpoints) { ep.node = renamed[ep.node]; delete ep.addresses; delete ep.mac; }
    next.links.push(link);
  }
  return {doc: next, names: Object.values(renamed)};
}

// --- error paths ----------------------------------------------------------------------

// "nodes[2].name" -> {kind: 'node', index: 2, rest: 'name'}; "links[1].endpoints[0]..." -> link 1.
export function parsePath(path) {
  const m = /^(nodes|links)\[(\d+)\](?:\.(.*))?$/.exec(path || '');
  if (!m) return {kind: 'document', index: -1, rest: path || ''};
  return {kind: m[1] === 'nodes' ? 'node' : 'link', index: Number(m[2]), rest: m[3] || ''};
}

// A path in words, for people: "links[1].endpoints[0].addresses[0]" -> "c2 eth0 address 1".
export function describePath(doc, path) {
  const t = parsePath(path);
  if (t.kind === 'document') return path ? path.replace(/_/g, ' ') : '';
  const rest = t.rest.replace(/\[(\d+)\]/g, (_, i) => ` ${Number(i) + 1}`).replace(/_/g, ' ');
  if (t.kind === 'node') {
    const n = (doc.nodes || [])[t.index];
    const name = n && typeof n.name === 'string' && n.name ? n.name : `node ${t.index + 1}`;
    return `${name}${rest ? ` ${rest.replace(/\./g, ' ')}` : ''}`.replace(/s (\d+)/g, ' $1');
  }
  const l = (doc.links || [])[t.index];
  const m = /^endpoints\[(\d)\](?:\.(.*))?$/.exec(t.rest);
  if (m && l && l.endpoints && l.endpoints[m[1]]) {
    const ep = l.endpoints[m[1]];
    const tail = (m[2] || '').replace(/\[(\d+)\]/g, (_, i) => ` ${Number(i) + 1}`).replace(/es (\d+)/, ' $1').replace(/\./g, ' ');
    return `${ep.node} ${ep.interface || ''}${tail ? ` ${tail}` : ''}`.replace(/\s+/g, ' ').trim();
  }
  const ends = l && l.endpoints ? l.endpoints.map((e) => `${e.node} ${e.interface}`).join(' — ') : `link ${t.index + 1}`;
  return `link ${ends}${rest ? ` ${rest.replace(/\./g, ' ')}` : ''}`;
}

// --- addresses ------------------------------------------------------------------------

export function parseCidr(text) {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec((text || '').trim());
  if (!m) return null;
  const octets = m.slice(1, 5).map(Number);
  const prefix = Number(m[5]);
  if (octets.some((o) => o > 255) || prefix > 32) return null;
  const ip = ((octets[0] << 24) >>> 0) + (octets[1] << 16) + (octets[2] << 8) + octets[3];
  return {ip: ip >>> 0, prefix};
}

const mask = (prefix) => (prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0);
export const ipToString = (ip) => [24, 16, 8, 0].map((s) => (ip >>> s) & 255).join('.');

// Is `text` an interface address the server takes? Returns an error sentence or ''.
export function checkInterfaceAddress(text) {
  const t = (text || '').trim();
  if (!t.includes('/')) {
    return /^[\d.]+$|:/.test(t) ? `'${t}' needs a prefix length, for example '${t}/${t.includes(':') ? 64 : 24}'`
      : `'${t}' is not an IPv4 or IPv6 address with a prefix length`;
  }
  if (t.includes(':')) {
    const [addr, len] = t.split('/');
    if (!/^[0-9a-fA-F:.]+$/.test(addr) || !/^(0|[1-9]\d{0,2})$/.test(len) || Number(len) > 128) return `'${t}' is not an IPv6 address with a prefix length`;
    return '';
  }
  const c = parseCidr(t);
  if (!c || !/\/(0|[1-9]\d?)$/.test(t)) return `'${t}' is not an IPv4 address with a prefix length`;
  if (c.prefix <= 30) {
    const host = c.ip & ~mask(c.prefix) >>> 0;
    const hostMax = (~mask(c.prefix)) >>> 0;
    if (host >>> 0 === 0) return `'${t}' is the network address of its subnet; use a host address`;
    if (host >>> 0 === hostMax) return `'${t}' is the broadcast address of its subnet; use a host address`;
  }
  return '';
}

function usedNetworks(doc) {
  const nets = [];
  for (const l of doc.links || []) for (const ep of l.endpoints || []) for (const a of (ep && ep.addresses) || []) {
    const c = parseCidr(a);
    if (c) nets.push({net: (c.ip & mask(c.prefix)) >>> 0, prefix: c.prefix, ip: c.ip});
  }
  return nets;
}

// Hands out subnets of `size` bits from `pool`, skipping any that overlap an address in use.
function subnetAllocator(pool, size, used) {
  const p = parseCidr(pool);
  if (!p || p.prefix > size) return null;
  const base = (p.ip & mask(p.prefix)) >>> 0;
  const count = 2 ** (size - p.prefix);
  const step = 2 ** (32 - size);
  let k = 0;
  const overlaps = (net) => used.some((u) => {
    const m = mask(Math.min(u.prefix, size));
    return ((u.net & m) >>> 0) === ((net & m) >>> 0);
  });
  return () => {
    while (k < count) {
      const net = (base + k * step) >>> 0;
      k += 1;
      if (!overlaps(net)) { used.push({net, prefix: size, ip: net}); return net; }
    }
    return null;
  };
}

// --- IPv6 addresses (BigInt: 128 bits) ------------------------------------------------------

// 'fd00:0:1::5/64' -> {ip: BigInt, prefix: 64}; null for anything that is not an IPv6 address with a prefix.
export function parseCidr6(text) {
  const m = /^([0-9a-fA-F:.]+)\/(0|[1-9]\d{0,2})$/.exec((text || '').trim());
  if (!m || Number(m[2]) > 128) return null;
  const ip = parseIp6(m[1]);
  return ip === null ? null : {ip, prefix: Number(m[2])};
}

// An IPv6 address (no prefix) as a BigInt, or null; '::' once at most, a dotted IPv4 tail allowed.
export function parseIp6(text) {
  let t = (text || '').trim().toLowerCase();
  if (!t.includes(':')) return null;
  const tail = /^(.*:)(\d{1,3}(?:\.\d{1,3}){3})$/.exec(t);
  if (tail) {
    const v4 = parseCidr(`${tail[2]}/32`);
    if (!v4) return null;
    t = `${tail[1]}${(v4.ip >>> 16).toString(16)}:${(v4.ip & 0xffff).toString(16)}`;
  }
  const halves = t.split('::');
  if (halves.length > 2) return null;
  const groups = (h) => (h === '' ? [] : h.split(':'));
  const head = groups(halves[0]);
  const rest = halves.length === 2 ? groups(halves[1]) : [];
  const missing = 8 - head.length - rest.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return null;
  const all = [...head, ...Array(halves.length === 2 ? missing : 0).fill('0'), ...rest];
  if (!all.every((g) => /^[0-9a-f]{1,4}$/.test(g))) return null;
  return all.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n);
}

// RFC 5952 text: lower case, no leading zeros, the longest run of two or more zero groups as '::'.
export function ip6ToString(ip) {
  const groups = [];
  for (let k = 7; k >= 0; k--) groups.push(Number((ip >> BigInt(16 * k)) & 0xffffn));
  let best = -1; let bestLen = 1;
  for (let i = 0; i < 8;) {
    let j = i;
    while (j < 8 && groups[j] === 0) j += 1;
    if (j - i > bestLen) { best = i; bestLen = j - i; }
    i = j === i ? i + 1 : j;
  }
  const hex = (gs) => gs.map((g) => g.toString(16)).join(':');
  if (best < 0) return hex(groups);
  return `${hex(groups.slice(0, best))}::${hex(groups.slice(best + bestLen))}`;
}

const mask6 = (prefix) => (prefix === 0 ? 0n : ((1n << 128n) - 1n) ^ ((1n << BigInt(128 - prefix)) - 1n));
const isLinkLocal6 = (ip) => (ip >> 118n) === 0x3fan; // fe80::/10: on every link at once, never assigned here

function usedNetworks6(doc) {
  const nets = [];
  for (const l of doc.links || []) for (const ep of l.endpoints || []) for (const a of (ep && ep.addresses) || []) {
    const c = parseCidr6(a);
    if (c && !isLinkLocal6(c.ip)) nets.push({net: c.ip & mask6(c.prefix), prefix: c.prefix});
  }
  return nets;
}

// As subnetAllocator, for IPv6: subnets of `size` bits from `pool`, skipping any that overlap one in use.
function subnetAllocator6(pool, size, used) {
  const p = parseCidr6(pool);
  if (!p || p.prefix > size) return null;
  const base = p.ip & mask6(p.prefix);
  const count = 1n << BigInt(size - p.prefix);
  const step = 1n << BigInt(128 - size);
  let k = 0n;
  const overlaps = (net) => used.some((u) => { const m = mask6(Math.min(u.prefix, size)); return (u.net & m) === (net & m); });
  return () => {
    while (k < count) {
      const net = base + k * step;
      k += 1n;
      if (!overlaps(net)) { used.push({net, prefix: size}); return net; }
    }
    return null;
  };
}

// --- Assign addresses -----------------------------------------------------------------------

export const DEFAULT_POOLS = Object.freeze({p2p: '10.0.0.0/16', lan: '192.168.0.0/16', p2p6: 'fd00:0:1::/48', lan6: 'fd00:0:2::/48'});

// One IP family's way of handing out subnets: the IPv4 one (BigInt-free, /31 and /24) and the IPv6 one (/64s).
const FAMILY = {
  4: {
    p2pSize: 31, lanSize: 24, lanMax: 253,
    parse: parseCidr, allocator: subnetAllocator, used: usedNetworks,
    net: (c) => (c.ip & mask(c.prefix)) >>> 0,
    add: (net, k) => (net + k) >>> 0,
    text: (ip, prefix) => `${ipToString(ip)}/${prefix}`,
    // a /31 has no network or broadcast address: both ends take one of its two
    p2pHosts: (net) => [net, (net + 1) >>> 0],
  },
  6: {
    p2pSize: 64, lanSize: 64, lanMax: 65534,
    parse: (t) => { const c = parseCidr6(t); return c && !isLinkLocal6(c.ip) ? c : null; },
    allocator: subnetAllocator6, used: usedNetworks6,
    net: (c) => c.ip & mask6(c.prefix),
    add: (net, k) => net + BigInt(k),
    text: (ip, prefix) => `${ip6ToString(ip)}/${prefix}`,
    // ::0 of a subnet is its routers' anycast address: the ends take ::1 and ::2
    p2pHosts: (net) => [net + 1n, net + 2n],
  },
};

// Fill the links that have no addresses of a family. IPv4: a /31 (pools.p2p) for a link between two nodes that
// forward (routers), a /24 (pools.lan) for each bridged LAN (switches) and each other link. IPv6 the same way with
// a /64 from pools.p2p6 or pools.lan6. Nodes that forward take the lowest addresses; bridged ports get none. End
// systems (hosts) with no default route of a family get one via a node that forwards on their subnet.
// Nothing already set is changed: an interface with an address of a family is left alone in that family.
// families: [4], [6] or [4, 6]. Returns {doc, filled (addresses and routes added), problems, addressed (interfaces
// given an address), leftAlone (interfaces that had addresses: none added), pools (the pools subnets came from),
// routes (default routes added)}.
export function assignAddresses(doc, pools = DEFAULT_POOLS, families = [4]) {
  const next = clone(doc);
  next.links = next.links || [];
  const problems = [];
  const result = {doc, filled: 0, problems, addressed: 0, leftAlone: 0, pools: [], routes: 0};
  const allocators = {};
  for (const family of families) {
    const f = FAMILY[family];
    const [p2pName, lanName] = family === 4 ? ['p2p', 'lan'] : ['p2p6', 'lan6'];
    const p2pPool = pools[p2pName] ?? DEFAULT_POOLS[p2pName];
    const lanPool = pools[lanName] ?? DEFAULT_POOLS[lanName];
    const used = f.used(next);
    const p2p = f.allocator(p2pPool, f.p2pSize, used);
    const lan = f.allocator(lanPool, f.lanSize, used);
    if (!p2p) problems.push(`'${p2pPool}' is not an IPv${family} pool that holds /${f.p2pSize}s`);
    if (!lan) problems.push(`'${lanPool}' is not an IPv${family} pool that holds /${f.lanSize}s`);
    // Which pools handed out a subnet, in the order the message names them.
    const counted = (take, pool) => () => { const net = take(); if (net !== null && !result.pools.includes(pool)) result.pools.push(pool); return net; };
    if (p2p && lan) allocators[family] = {p2p: counted(p2p, p2pPool), lan: counted(lan, lanPool)};
  }
  if (problems.length) return result;
  const kind = (name) => kindOf(next, name) || defaultKindName();
  const given = new Set(); // the endpoints that got an address
  for (const family of families) fillFamily(next, family, allocators[family], kind, given, problems);
  result.addressed = given.size;
  // Interfaces (not switch ports) that got nothing because they had an address of a family asked for.
  for (const l of next.links) for (const ep of l.endpoints || []) {
    if (!ep || given.has(ep) || bridges(kind(ep.node))) continue;
    if (families.some((family) => (ep.addresses || []).some((a) => FAMILY[family].parse(a)))) result.leftAlone += 1;
  }
  // Default routes of end systems: via the first node that forwards on one of their subnets of the family.
  for (const node of next.nodes || []) {
    if (!isEndSystem(node.kind || defaultKindName())) continue;
    for (const family of families) {
      if ((node.routes || []).some((r) => isDefault(r, family))) continue;
      const gw = gatewayFor(next, node.name, kind, family);
      if (gw) { node.routes = (node.routes || []).concat([{to: 'default', via: gw}]); result.routes += 1; }
    }
  }
  result.filled = countAddresses(next) - countAddresses(doc) + result.routes;
  if (result.filled) result.doc = next;
  return result;
}

const countAddresses = (doc) => (doc.links || []).reduce((n, l) => n + (l.endpoints || []).reduce((m, ep) => m + ((ep && ep.addresses) || []).length, 0), 0);

// Is the route a default route of the family? 'default' takes its family from its via.
function isDefault(route, family) {
  if (route.to === (family === 4 ? '0.0.0.0/0' : '::/0')) return true;
  return route.to === 'default' && (family === 6) === String(route.via || '').includes(':');
}

// Assign one family's addresses in `next` (changed in place), recording each endpoint given one in `given`.
function fillFamily(next, family, {p2p, lan}, kind, given, problems) {
  const f = FAMILY[family];
  const has = (ep) => ep && (ep.addresses || []).some((a) => f.parse(a));
  const give = (ep, ip, prefix) => { ep.addresses = (ep.addresses || []).concat([f.text(ip, prefix)]); given.add(ep); };
  const ip = `IPv${family}`;

  // Bridged LANs: switches joined directly form one LAN (union-find).
  const parent = {};
  const find = (x) => (parent[x] === undefined || parent[x] === x ? (parent[x] = x) : (parent[x] = find(parent[x])));
  next.links.forEach((l) => {
    const [a, b] = l.endpoints || [];
    if (a && b && bridges(kind(a.node)) && bridges(kind(b.node))) parent[find(a.node)] = find(b.node);
  });
  const lans = new Map(); // root switch -> endpoints of the nodes on it that do not bridge
  next.links.forEach((l) => {
    const [a, b] = l.endpoints || [];
    if (!a || !b) return;
    for (const [sw, other] of [[a, b], [b, a]]) {
      if (bridges(kind(sw.node)) && !bridges(kind(other.node))) {
        const root = find(sw.node);
        if (!lans.has(root)) lans.set(root, []);
        lans.get(root).push(other);
      }
    }
  });
  for (const members of lans.values()) {
    const empty = members.filter((ep) => !has(ep));
    if (!empty.length) continue;
    // Reuse the LAN's subnet if someone on it has an address of the family already.
    let net = null;
    const taken = new Set();
    for (const ep of members) for (const a of ep.addresses || []) {
      const c = f.parse(a);
      if (c && c.prefix === f.lanSize) { net = net ?? f.net(c); taken.add(String(c.ip)); }
    }
    if (net === null) net = lan();
    if (net === null) { problems.push(`the ${ip} LAN pool is exhausted`); break; }
    empty.sort((x, y) => Number(forwards(kind(y.node))) - Number(forwards(kind(x.node))));
    let host = 1;
    for (const ep of empty) {
      while (taken.has(String(f.add(net, host))) && host <= f.lanMax) host += 1;
      if (host > f.lanMax) { problems.push(`a LAN has more than ${f.lanMax} members`); break; }
      give(ep, f.add(net, host), f.lanSize);
      taken.add(String(f.add(net, host)));
    }
  }
  // Point-to-point links.
  for (const l of next.links) {
    const [a, b] = l.endpoints || [];
    if (!a || !b || has(a) || has(b)) continue;
    if (bridges(kind(a.node)) || bridges(kind(b.node))) continue;
    if (forwards(kind(a.node)) && forwards(kind(b.node))) {
      const net = p2p();
      if (net === null) { problems.push(`the ${ip} router-link pool is exhausted`); break; }
      const [first, second] = f.p2pHosts(net);
      give(a, first, f.p2pSize);
      give(b, second, f.p2pSize);
    } else {
      const net = lan();
      if (net === null) { problems.push(`the ${ip} LAN pool is exhausted`); break; }
      const [first, second] = forwards(kind(b.node)) && !forwards(kind(a.node)) ? [b, a] : [a, b];
      give(first, f.add(net, 1), f.lanSize);
      give(second, f.add(net, 2), f.lanSize);
    }
  }
}

function gatewayFor(doc, hostName, kind, family = 4) {
  const f = FAMILY[family];
  const text = family === 4 ? ipToString : ip6ToString;
  const mine = [];
  for (const l of doc.links || []) for (const ep of l.endpoints || []) {
    if (ep && ep.node === hostName) for (const a of ep.addresses || []) { const c = f.parse(a); if (c) mine.push(c); }
  }
  for (const c of mine) {
    const net = f.net(c);
    for (const l of doc.links || []) for (const ep of l.endpoints || []) {
      if (!ep || ep.node === hostName || !forwards(kind(ep.node))) continue;
      for (const a of ep.addresses || []) {
        const r = f.parse(a);
        if (r && r.prefix === c.prefix && f.net(r) === net) return text(r.ip);
      }
    }
  }
  return null;
}
