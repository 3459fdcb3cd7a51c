// Unit tests of the text view's pure parts (static/topolab/text-view.js): the document's text with its keys in the
// spec's order, and the JSON reader that says where each of the server's paths is and where a syntax error is.
// Run by tests/e2e/test_text_view.py (node --test).
import {test} from 'node:test';
import assert from 'node:assert/strict';
import {documentText, orderedDocument, parseJson, placeOf, positionOf, sameValue} from '../../../static/topolab/text-view.js';

const doc = {
  links: [{mtu: 1400, endpoints: [{addresses: ['10.0.0.1/24'], interface: 'eth0', node: 'a'}, {interface: 'eth0', node: 'b'}]}],
  nodes: [{position: {y: 2, x: 1}, kind: 'host', name: 'a', extra: 1}, {name: 'b', sysctls: {'net.ipv4.ip_forward': '1'}}],
  name: 'two', format: 'topolab/v1',
};

test('keys come in the order of the spec, unknown keys after, values untouched', () => {
  const o = orderedDocument(doc);
  assert.deepEqual(Object.keys(o), ['format', 'name', 'nodes', 'links']);
  assert.deepEqual(Object.keys(o.nodes[0]), ['name', 'kind', 'position', 'extra']);
  assert.deepEqual(Object.keys(o.nodes[0].position), ['x', 'y']);
  assert.deepEqual(Object.keys(o.links[0]), ['endpoints', 'mtu']);
  assert.deepEqual(Object.keys(o.links[0].endpoints[0]), ['node', 'interface', 'addresses']);
  assert.ok(sameValue(o, doc));
  const text = documentText(doc);
  assert.ok(text.startsWith('{\n  "format": "topolab/v1",\n  "name": "two",\n'));
  assert.ok(text.endsWith('}\n'));
  assert.deepEqual(JSON.parse(text), o);
});

test('a document that is not the format keeps what it has', () => {
  assert.equal(documentText([1, 2]), '[\n  1,\n  2\n]\n');
  assert.deepEqual(orderedDocument({nodes: 'x', links: [3]}), {nodes: 'x', links: [3]});
});

test('sameValue ignores the order of keys only', () => {
  assert.ok(sameValue({a: 1, b: [1, {c: 2, d: 3}]}, {b: [1, {d: 3, c: 2}], a: 1}));
  assert.ok(!sameValue({a: 1}, {a: 1, b: undefined}));
  assert.ok(!sameValue([1, 2], [2, 1]));
  assert.ok(!sameValue({a: '1'}, {a: 1}));
});

test('every path is where the text has it, as the server writes paths', () => {
  const text = documentText(doc);
  const read = parseJson(text);
  assert.equal(read.error, null);
  assert.deepEqual(read.value, orderedDocument(doc));
  const lineOf = (path) => positionOf(read.starts, placeOf(read.places, path).key ?? placeOf(read.places, path).start).line;
  const lines = text.split('\n');
  assert.match(lines[lineOf('links[0].endpoints[0].addresses[0]') - 1], /"10\.0\.0\.1\/24"/);
  assert.match(lines[lineOf('nodes[1].sysctls.net.ipv4.ip_forward') - 1], /"net\.ipv4\.ip_forward": "1"/);
  assert.match(lines[lineOf('nodes[0].position.y') - 1], /"y": 2/);
  // A key that is missing is about the object that lacks it; a path not in the text at all, nowhere.
  assert.equal(placeOf(read.places, 'nodes[1].kind'), read.places.get('nodes[1]'));
  assert.equal(placeOf(read.places, 'links[0].endpoints[1].addresses[3]'), read.places.get('links[0].endpoints[1]'));
  assert.equal(placeOf(read.places, ''), read.places.get(''));
  const v = read.places.get('nodes[0].name');
  assert.equal(text.slice(v.start, v.end), '"a"');
});

test('a syntax error says its line and column', () => {
  const cases = [
    ['{\n  "a": 1,\n  "b" 2\n}', 3, 7, "expected ':' after the key \"b\""],
    ['{\n  "a": 1,\n}', 3, 1, "a ',' before '}'"],
    ['[1, 2,]', 1, 7, "a ',' before ']'"],
    ['{"a": "x\n"}', 1, 7, 'a string is not closed'],
    ['{"a": tru}', 1, 7, "expected a value"],
    ['{"a": 01}', 1, 7, 'is not a number'],
    ['{"a": 1} x', 1, 10, 'after the end of the document'],
    ['{"a": 1, "a": 2}', 1, 10, 'the key "a" is given twice'],
    ['{"a": "\\q"}', 1, 8, 'is not an escape'],
    ['', 1, 1, 'the text ends where a value was expected'],
    ['{"a": [1, 2}', 1, 12, "expected ',' or ']'"],
  ];
  for (const [text, line, column, message] of cases) {
    const {error} = parseJson(text);
    assert.ok(error, text);
    assert.deepEqual([error.line, error.column], [line, column], `${text}: ${error.message}`);
    assert.ok(error.message.includes(message), `${text}: ${error.message}`);
  }
});

test('it reads what JSON.parse reads', () => {
  const samples = ['{"a": [1, -2.5e3, true, false, null, "x\\u00e9\\n\\"", {}], "b": {"c": []}}', '"s"', '  7  ', '[[[]]]'];
  for (const s of samples) {
    const read = parseJson(s);
    assert.equal(read.error, null, s);
    assert.deepEqual(read.value, JSON.parse(s));
  }
});

test('a large document reads quickly', () => {
  const nodes = Array.from({length: 500}, (_, i) => ({name: `n${i}`, kind: 'router', position: {x: i, y: i}}));
  const links = Array.from({length: 700}, (_, i) => ({endpoints: [{node: `n${i % 500}`, interface: `eth${i}`, addresses: [`10.${i >> 8}.${i & 255}.1/31`]},
    {node: `n${(i + 1) % 500}`, interface: `eth${i}`}]}));
  const text = documentText({format: 'topolab/v1', name: 'big', nodes, links});
  let read, ms = Infinity;
  for (let k = 0; k < 5; k++) { // the fastest of five: a shared machine's worst says little about the reader
    const t0 = performance.now();
    read = parseJson(text);
    ms = Math.min(ms, performance.now() - t0);
  }
  assert.equal(read.error, null);
  assert.equal(read.value.links.length, 700);
  assert.ok(ms < 400, `${ms} ms`); // some 10 ms on a quiet machine: this catches a reader gone quadratic
});
