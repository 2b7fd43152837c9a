// Run by tls.test.mjs in a Node process of its own, whose IVSCHAT_ENDPOINT is an https:// URL
// and whose NODE_EXTRA_CA_CERTS names the test's CA (Node reads it only at start-up): creates
// a room with @aws-sdk/client-ivschat, connects two users with amazon-ivs-chat-messaging over
// wss://, sends a message from one to the other, and prints what happened as one JSON line.
// Exits non-zero (with the error) when any step fails.

import { SendMessageRequest } from 'amazon-ivs-chat-messaging';
import { Resources, client, chatUrl, withTimeout } from './helpers.mjs';

const res = new Resources(client);
try {
  const room = await res.room({ name: 'tls-room' });
  const alice = await res.connect(room.arn, 'alice', { capabilities: ['SEND_MESSAGE'] });
  const bob = await res.connect(room.arn, 'bob');
  const sent = await withTimeout(alice.room.sendMessage(new SendMessageRequest('hello over wss')), 'sendMessage');
  const got = await bob.rec.waitFor((e) => e.name === 'message', 'bob receives the message');
  console.log(JSON.stringify({ chatUrl: chatUrl(), sent: sent.content, received: got.payload.content }));
} finally {
  await res.cleanup();
}
