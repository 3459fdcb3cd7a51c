// Unit tests of node-live.js's pure parts (which buttons a node's state offers, why one is disabled,
// what the state is called), run by tests/e2e/test_node_restart.py (node --test).
import {test} from 'node:test';
import assert from 'node:assert/strict';
import {ACTIONS, actionsFor, stateWords, whyNot} from '../../../static/topolab/node-live.js';

const running = {state: 'running', busy: false};

test('a node offers only the actions that make sense for its state', () => {
  assert.deepEqual(actionsFor('running'), ['stop', 'restart']);
  assert.deepEqual(actionsFor('stopped'), ['start']);
  assert.deepEqual(actionsFor('exited'), ['start']);
  assert.deepEqual(actionsFor('gone'), ['start']);
  assert.deepEqual(actionsFor('failed'), ['start']);
  for (const state of ['pending', 'creating', 'none', undefined]) assert.deepEqual(actionsFor(state), [], state);
});

test('a button says why it waits: signed out, a request of this page, the lab, the node', () => {
  assert.equal(whyNot({lab: running, name: 'r1', state: 'running'}), '');
  assert.equal(whyNot({lab: {state: 'degraded', busy: false}, name: 'r1', state: 'exited'}), '');
  assert.equal(whyNot({lab: running, gone: 'Sign in again.', name: 'r1', state: 'running'}), 'Sign in again.');
  assert.equal(whyNot({lab: running, busy: {node: 'r1', action: 'restart'}, name: 'r1', state: 'running'}), 'Wait: restarting r1…');
  assert.equal(whyNot({lab: running, busy: {node: 'r1', action: 'stop'}, name: 'c1', state: 'running'}), 'Wait: r1 is being stopped.');
  assert.equal(whyNot({lab: {state: 'running', busy: true}, name: 'r1', state: 'running'}), 'Wait: another operation on the lab is running.');
  assert.equal(whyNot({lab: {state: 'destroying', busy: true}, name: 'r1', state: 'running'}), 'Wait: the lab is destroying.');
  assert.equal(whyNot({lab: {state: 'stopped', busy: false}, name: 'r1', state: 'stopped'}), 'The lab is not running.');
  assert.equal(whyNot({lab: running, name: 'r9', state: undefined}), 'r9 is not in the running lab.');
  assert.equal(whyNot({lab: running, name: 'r1', state: 'creating'}), 'Wait: r1 is creating.');
});

test('the state is said in words, and each action says what it does', () => {
  assert.equal(stateWords('r1', {state: 'running'}), 'r1 is running.');
  assert.match(stateWords('r1', {state: 'stopped'}), /^r1 is stopped: its links are down/);
  assert.match(stateWords('c2', {state: 'gone', reason: 'its container was removed'}), /behind Topolab's back \(gone\)\. Start it/);
  assert.match(stateWords('r9', undefined), /not in the running lab/);
  assert.match(ACTIONS.stop.title('r1'), /^Pulls the plug: r1's processes end, its links go down until it starts/);
  assert.deepEqual(Object.keys(ACTIONS), ['stop', 'start', 'restart']);
});
