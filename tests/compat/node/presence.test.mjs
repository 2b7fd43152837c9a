// Our presence events (README "Extensions (not AWS)"; docs/protocol/messaging.md §14) through
// the official chat SDK, unchanged: a room tagged `ivschat-server:presence-events=on` sends
// `ivschat-server:JOIN` / `ivschat-server:LEAVE` EVENTs, which the SDK delivers as ordinary
// `event`s.  Run by tests/compat/run-node.sh.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ID_RE, Resources, assertCloseTo } from './helpers.mjs';

const T = { timeout: 60_000 };

/** The user ids an event of ours lists. */
const userIds = (event) => JSON.parse(event.attributes.userIds);

test('a join and a leave reach the official SDK as ordinary events', T, async (t) => {
  const res = Resources.track(t);
  const { arn } = await res.room({ tags: { 'ivschat-server:presence-events': 'on' } });
  const host = await res.connect(arn, 'host');
  // The host's own arrival comes first.
  await host.rec.next(
    'event',
    (e) => e.eventName === 'ivschat-server:JOIN' && userIds(e).includes('host'),
    'host sees its own join',
  );

  const before = Date.now();
  const guest = await res.connect(arn, 'guest', { attributes: { displayName: 'Guest' } });
  const joined = await host.rec.next(
    'event',
    (e) => e.eventName === 'ivschat-server:JOIN' && userIds(e).includes('guest'),
    'host sees the guest join',
  );
  assert.match(joined.id, ID_RE, 'event id: 12 alphanumerics');
  assert.deepEqual(userIds(joined), ['guest']);
  assert.equal(joined.attributes.count, '1');
  assert.equal(joined.attributes.truncated, 'false');
  assert.ok(joined.sendTime instanceof Date, 'sendTime is a Date');
  assertCloseTo(joined.sendTime, before, 5000, 'sendTime');

  guest.room.disconnect();
  const left = await host.rec.next(
    'event',
    (e) => e.eventName === 'ivschat-server:LEAVE',
    'host sees the guest leave',
  );
  assert.deepEqual(userIds(left), ['guest']);
  // Our events are not AWS's: the SDK reported no user disconnection.
  assert.equal(host.rec.all('userDisconnect').length, 0);
});
