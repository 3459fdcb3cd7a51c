// The REST API (/api/v1/) as the pages use it: session cookie, CSRF header, JSON both ways.

export class ApiError extends Error {
  // status: HTTP status; errors: [{path, message}] from a 400; detail: the server's sentence.
  constructor(status, body) {
    const detail = (body && (body.detail || (body.errors && body.errors.length && body.errors[0].message))) || `the server answered ${status}`;
    super(typeof detail === 'string' ? detail : JSON.stringify(detail));
    this.status = status;
    this.body = body || {};
    this.errors = (body && Array.isArray(body.errors)) ? body.errors : [];
    this.warnings = (body && Array.isArray(body.warnings)) ? body.warnings : [];
  }
}

function csrfToken() {
  const m = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return m ? decodeURIComponent(m[1]) : '';
}

export async function request(method, path, body) {
  const headers = {Accept: 'application/json'};
  const init = {method, headers, credentials: 'same-origin'};
  if (body instanceof FormData) {
    init.body = body;  // multipart/form-data: the browser sets the Content-Type with its boundary
  } else if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  if (!['GET', 'HEAD'].includes(method)) headers['X-CSRFToken'] = csrfToken();
  let response;
  try {
    response = await fetch(`/api/v1/${path}`, init);
  } catch (e) {
    throw new ApiError(0, {detail: 'The server cannot be reached. Check your connection and try again.'});
  }
  if (response.status === 204) return null;
  let data = null;
  const text = await response.text();
  if (text) {
    try { data = JSON.parse(text); } catch { data = {detail: text.slice(0, 200)}; }
  }
  if (response.status === 401 || response.status === 403) {
    if (!data || !data.detail) data = {detail: 'You are signed out. Sign in again (your unsaved work stays in this tab).'};
  }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

export const api = {
  list: () => request('GET', 'topologies'),
  get: (id) => request('GET', `topologies/${id}`),
  create: (doc) => request('POST', 'topologies', doc),
  put: (id, doc) => request('PUT', `topologies/${id}`, doc),
  remove: (id) => request('DELETE', `topologies/${id}`),
  validate: (doc) => request('POST', 'validate', doc),
  // Compute routes (issue 13): the routes that make every node reach every subnet of `doc` (saved or not); nothing saved.
  computeRoutes: (doc) => request('POST', 'routes/compute', doc),
  deploy: (id) => request('POST', `topologies/${id}/deploy`),
  destroy: (id) => request('POST', `topologies/${id}/destroy`),
  lab: (id) => request('GET', `topologies/${id}/lab`),
  images: () => request('GET', 'images'),
  // Links live (issue 11): change a running lab's link by either end, 'node:interface'; what this host's kernel can do.
  patchLink: (id, end, body) => request('PATCH', `topologies/${id}/links/${encodeURIComponent(end)}`, body),
  capabilities: () => request('GET', 'capabilities'),
  // "Ping all" (issue 11): every node with an address pings every address of the running lab; answers the matrix.
  pingAll: (id) => request('POST', `topologies/${id}/ping-all`),
  // Nodes live (issue 11): stop, start or restart one node of the running lab; answers once it is done.
  nodeAction: (id, node, action) => request('POST', `topologies/${id}/nodes/${encodeURIComponent(node)}/${action}`),
  // Apply changes (issue 12): make the running lab run this document; dryRun only says what would change.
  apply: (id, doc, dryRun = false) => request('POST', `topologies/${id}/apply${dryRun ? '?dry_run=true' : ''}`, doc),
};

export const coursesApi = {
  list: () => request('GET', 'courses'),
  get: (id) => request('GET', `courses/${id}`),
  create: (name) => request('POST', 'courses', {name}),
  enrol: (id, username) => request('POST', `courses/${id}/students`, {username}),
  enrolCsv: (id, blob, filename = 'students.csv') => {
    const form = new FormData();
    form.append('file', blob, filename);
    return request('POST', `courses/${id}/students/csv`, form);
  },
  join: (code) => request('POST', 'courses/join', {code}),
  regenerate: (id) => request('POST', `courses/${id}/code`),
  remove: (id, username, mode) => request('POST', `courses/${id}/students/${encodeURIComponent(username)}/remove`, {mode}),
  addInstructor: (id, username) => request('POST', `courses/${id}/instructors`, {username}),
  removeInstructor: (id, username) => request('POST', `courses/${id}/instructors/${encodeURIComponent(username)}/remove`),
};

// Assignments (issue 10): instructors write them, students start their copy; the editor's panel reads a copy's.
export const assignmentsApi = {
  list: (courseId) => request('GET', `courses/${courseId}/assignments`),
  create: (courseId, data) => request('POST', `courses/${courseId}/assignments`, data),
  get: (id) => request('GET', `assignments/${id}`),
  put: (id, data) => request('PUT', `assignments/${id}`, data),
  remove: (id) => request('DELETE', `assignments/${id}`),
  publish: (id) => request('POST', `assignments/${id}/publish`),
  unpublish: (id) => request('POST', `assignments/${id}/unpublish`),
  start: (id) => request('POST', `assignments/${id}/start`),
  reset: (id) => request('POST', `assignments/${id}/reset`, {confirm: true}),
  ofTopology: (topologyId) => request('GET', `topologies/${topologyId}/assignment`),
  markdown: (text) => request('POST', 'markdown', {text}),
};

// Checks: "Check my work" on a copy, "Try on my lab" with unsaved checks, the class's results.
export const checksApi = {
  run: (topologyId) => request('POST', `topologies/${topologyId}/checks`),
  runs: (topologyId) => request('GET', `topologies/${topologyId}/checks`),
  tryChecks: (assignmentId, checks) => request('POST', `assignments/${assignmentId}/checks/try`, {checks}),
  results: (assignmentId) => request('GET', `assignments/${assignmentId}/results`),
  rerun: (assignmentId) => request('POST', `assignments/${assignmentId}/results/rerun`),
  csvUrl: (assignmentId) => `/api/v1/assignments/${assignmentId}/results.csv`,
};

// FRR (issue 12): FRR's own checker on a frr.conf, a starting configuration for an frr node of the saved document,
// and "Save configs" (the running configurations of a lab's frr nodes against the document's; dryRun: only the diffs).
export const frrApi = {
  check: (config) => request('POST', 'frr/check', {config}),
  startingConfig: (id, node, daemons) => request('POST', `topologies/${id}/frr/starting-config`, {node, daemons}),
  saveConfigs: (id, dryRun) => request('POST', `topologies/${id}/frr/save`, {dry_run: dryRun}),
};
