// Child process of messaging.test.mjs, started as
//   node --experimental-websocket native-websocket-client.mjs
// so that the chat SDK uses Node's built-in (undici) WebSocket instead of the `ws` package.
// Connects two users, sends, receives, deletes, and disconnects; exit code 0 = all passed.
// The last stdout line is a JSON summary.

import assert from 'node:assert/strict';
import WebSocketImpl from 'ws';
import { SendMessageRequest, DeleteMessageRequest } from 'amazon-ivs-chat-messaging';
import { ID_RE, NATIVE_WEBSOCKET, Resources, withTimeout } from './helpers.mjs';

const res = new Resources();
let status = 1;
try {
  assert.ok(NATIVE_WEBSOCKET, 'no built-in WebSocket: is --experimental-websocket supported (Node >= 20.10)?');
  assert.notEqual(globalThis.WebSocket, WebSocketImpl, 'the `ws` polyfill was installed');

  const { arn } = await res.room();
  const alice = await res.connect(arn, 'native-alice', {
    capabilities: ['SEND_MESSAGE', 'DELETE_MESSAGE'],
    attributes: { client: 'undici' },
  });
  const bob = await res.connect(arn, 'native-bob');

  const req = new SendMessageRequest('hello from the built-in WebSocket', { via: 'undici' });
  const sent = await withTimeout(alice.room.sendMessage(req), 'sendMessage');
  assert.match(sent.id, ID_RE);
  assert.equal(sent.requestId, req.requestId);
  assert.equal(sent.sender.userId, 'native-alice');
  assert.deepEqual(sent.sender.attributes, { client: 'undici' });
  assert.deepEqual(sent.attributes, { via: 'undici' });
  const got = await bob.rec.next('message', (m) => m.id === sent.id, 'bob receives the message');
  assert.equal(got.content, sent.content);

  const del = await withTimeout(alice.room.deleteMessage(new DeleteMessageRequest(sent.id, 'bye')), 'deleteMessage');
  assert.equal(del.messageId, sent.id);
  await bob.rec.next('messageDelete', (e) => e.messageId === sent.id, 'bob messageDelete');

  alice.room.disconnect();
  assert.equal(await alice.rec.next('disconnect', () => true, 'alice disconnect'), 'clientDisconnect');

  console.log(JSON.stringify({ native: NATIVE_WEBSOCKET, messageId: sent.id }));
  status = 0;
} catch (err) {
  console.error(`FAILED: ${err?.stack ?? err}`);
} finally {
  try {
    await res.cleanup();
  } catch (err) {
    console.error(`cleanup: ${err?.message ?? err}`);
    status = 1;
  }
}
process.exit(status);
