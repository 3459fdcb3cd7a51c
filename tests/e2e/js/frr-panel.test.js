// Unit tests of frr-panel.js's pure parts (which kinds run FRR, the files "Use it" leaves, a line's place in a
// file, the lines shown around an error, a diff's lines), run by tests/e2e/test_frr_editor.py (node --test).
import {test} from 'node:test';
import assert from 'node:assert/strict';
import {setKinds} from '../../../static/topolab/document-model.js';
import {runsFrr, samePath, confIndex, withFiles, lineRange, excerpt, diffLines, deployErrors} from '../../../static/topolab/frr-panel.js';

test('a kind runs FRR when its config says so, or, without a word, when it is named frr', () => {
  setKinds([{name: 'host'}, {name: 'frr'}, {name: 'quagga', frr: true}, {name: 'router', frr: false}], 'host');
  assert.equal(runsFrr('frr'), true);
  assert.equal(runsFrr('quagga'), true);
  assert.equal(runsFrr('host'), false);
  assert.equal(runsFrr('router'), false);
  assert.equal(runsFrr('nonsense'), false);
});

test("a file's path is compared without doubled or trailing slashes", () => {
  assert.equal(samePath('//etc//frr/frr.conf'), '/etc/frr/frr.conf');
  assert.equal(samePath('/etc/frr/'), '/etc/frr');
  assert.equal(samePath('/'), '/');
  assert.equal(confIndex({files: [{path: '/etc/hosts'}, {path: '/etc//frr/frr.conf'}]}), 1);
  assert.equal(confIndex({}), -1);
});

test('"Use it" replaces the files of the same paths, keeps the others and their modes, adds the new ones', () => {
  const files = [{path: '/etc/hosts', content: 'x'}, {path: '/etc/frr//frr.conf', content: 'old', mode: '0640'}];
  const out = withFiles(files, [{path: '/etc/frr/frr.conf', content: 'new'}, {path: '/etc/frr/daemons', content: 'd'}]);
  assert.deepEqual(out, [{path: '/etc/hosts', content: 'x'}, {path: '/etc/frr/frr.conf', content: 'new', mode: '0640'},
    {path: '/etc/frr/daemons', content: 'd'}]);
  assert.equal(files[1].content, 'old'); // the document's own objects are not changed
  assert.deepEqual(withFiles(undefined, [{path: '/a', content: ''}]), [{path: '/a', content: ''}]);
});

test("a line's offsets select exactly its text; a line that is not there selects nothing", () => {
  const text = 'hostname f1\nrouter ospf\n bad line\n';
  const r = lineRange(text, 3);
  assert.equal(text.slice(r.start, r.end), ' bad line');
  assert.equal(text.slice(lineRange(text, 1).start, lineRange(text, 1).end), 'hostname f1');
  assert.equal(lineRange(text, 0), null);
  assert.equal(lineRange(text, 9), null);
  assert.equal(lineRange(text, null), null);
});

test('the excerpt of an error is its line and one each side, numbered, its own marked', () => {
  assert.deepEqual(excerpt('a\nb\nc\nd', 2), [{number: 1, text: 'a', here: false}, {number: 2, text: 'b', here: true}, {number: 3, text: 'c', here: false}]);
  assert.deepEqual(excerpt('a\nb', 1), [{number: 1, text: 'a', here: true}, {number: 2, text: 'b', here: false}]);
  assert.deepEqual(excerpt('a', null), []);
});

test("a diff's lines are told apart: header, hunk, added, removed, the same", () => {
  const diff = '--- f1 saved\n+++ f1 running\n@@ -1,2 +1,2 @@\n hostname f1\n-router ospf\n+router bgp 65001\n';
  assert.deepEqual(diffLines(diff).map((l) => l.type), ['meta', 'meta', 'hunk', 'same', 'del', 'add']);
  assert.deepEqual(diffLines(''), []);
});

test("a failed deploy's reason gives the frr.conf's errors with their lines; another reason none", () => {
  const reason = "'topolab-frr-start' exited with code 1: /etc/frr/frr.conf: line 4: % Unknown command[41]: this is not frr\nline 6: % Unknown command: x";
  assert.deepEqual(deployErrors(reason), [{line: 4, message: '% Unknown command[41]: this is not frr'}, {line: 6, message: '% Unknown command: x'}]);
  assert.deepEqual(deployErrors("'ip' exited with code 2: line 3: nope"), []);
  assert.deepEqual(deployErrors(''), []);
  assert.deepEqual(deployErrors(null), []);
});

test("a file's last newline makes no line of its own in an excerpt", () => {
  assert.deepEqual(excerpt('a\nb\n', 2), [{number: 1, text: 'a', here: false}, {number: 2, text: 'b', here: true}]);
});
