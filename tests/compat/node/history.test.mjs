// Our extension (issue 22, README "Extensions (not AWS)"): room history replayed on join, seen
// through the official chat SDK (amazon-ivs-chat-messaging), unchanged. The room's options are
// tags (`ivschat-server:history`, `ivschat-server:replay`) set with @aws-sdk/client-ivschat.
// Run by tests/compat/run-node.sh.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SendMessageRequest, DeleteMessageRequest } from 'amazon-ivs-chat-messaging';
import { SendEventCommand } from '@aws-sdk/client-ivschat';
import { Resources, client, withTimeout } from './helpers.mjs';

const T = { timeout: 60_000 };
const REPLAYING = { 'ivschat-server:history': '50', 'ivschat-server:replay': 'on' };

test('history replay: a joining SDK client gets the kept messages as normal messages, no duplicate at the seam, a deleted message absent', T, async (t) => {
  const res = Resources.track(t);
  const { arn } = await res.room({ tags: REPLAYING, maximumMessageRatePerSecond: 100 });
  const alice = await res.connect(arn, 'alice', {
    capabilities: ['SEND_MESSAGE', 'DELETE_MESSAGE'],
    attributes: { displayName: 'Alice' },
  });
  const sent = [];
  for (let n = 0; n < 4; n += 1) {
    sent.push(await withTimeout(alice.room.sendMessage(new SendMessageRequest(`m${n}`, { n: String(n) })), `send m${n}`));
  }
  const deletion = await withTimeout(
    alice.room.deleteMessage(new DeleteMessageRequest(sent[1].id, 'spam')),
    'deleteMessage',
  );
  const event = await client.send(
    new SendEventCommand({ roomIdentifier: arn, eventName: 'score', attributes: { home: '1' } }),
  );

  // Messages on their way while bob joins: each must reach him exactly once, replayed or live.
  const during = [0, 1, 2].map((n) => alice.room.sendMessage(new SendMessageRequest(`during${n}`)));
  const bob = await res.connect(arn, 'bob');
  const duringSent = await withTimeout(Promise.all(during), 'messages sent during the join');
  const after = await withTimeout(alice.room.sendMessage(new SendMessageRequest('after')), 'send after');
  await bob.rec.next('message', (m) => m.id === after.id, 'bob receives the live message');

  const expected = [sent[0], sent[2], sent[3], ...duringSent, after].map((m) => m.id);
  const got = bob.rec.all('message');
  assert.deepEqual(
    got.map((m) => m.id),
    expected,
    'the kept messages, then the live ones: no duplicate, no gap, the deleted one absent',
  );
  // Replayed messages are rendered like live ones: same id, content, sender, attributes, time.
  for (const original of [sent[0], sent[2], sent[3]]) {
    const replayed = got.find((m) => m.id === original.id);
    assert.equal(replayed.content, original.content);
    assert.deepEqual(replayed.attributes, original.attributes);
    assert.equal(replayed.sender.userId, 'alice');
    assert.deepEqual(replayed.sender.attributes, { displayName: 'Alice' });
    assert.equal(replayed.sendTime.getTime(), original.sendTime.getTime());
  }
  // The deletion is replayed too, so a client that had the message drops it.
  const deletes = bob.rec.all('messageDelete');
  assert.deepEqual(
    deletes.map((d) => [d.id, d.messageId, d.reason]),
    [[deletion.id, sent[1].id, 'spam']],
  );
  const events = bob.rec.all('event');
  assert.deepEqual(
    events.map((e) => [e.id, e.eventName, e.attributes]),
    [[event.id, 'score', { home: '1' }]],
  );
});

test('history replay: a room without our tags replays nothing (AWS behaviour)', T, async (t) => {
  const res = Resources.track(t);
  const { arn } = await res.room();
  const alice = await res.connect(arn, 'alice', { capabilities: ['SEND_MESSAGE'] });
  await withTimeout(alice.room.sendMessage(new SendMessageRequest('before')), 'send before');
  const bob = await res.connect(arn, 'bob');
  const after = await withTimeout(alice.room.sendMessage(new SendMessageRequest('after')), 'send after');
  await bob.rec.next('message', (m) => m.id === after.id, 'bob receives the live message');
  assert.deepEqual(
    bob.rec.all('message').map((m) => m.content),
    ['after'],
  );
});
