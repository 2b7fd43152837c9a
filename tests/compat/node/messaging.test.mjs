// The official chat SDK (amazon-ivs-chat-messaging) against ivschat-server's WebSocket, with
// tokens minted by @aws-sdk/client-ivschat.  Run by tests/compat/run-node.sh.
//
// Every await on the chat SDK goes through a timeout (helpers.STEP_MS, 5 s by default): the
// SDK has none, so a frame the server fails to send would otherwise hang the test.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import WebSocketImpl from 'ws';
import { SendMessageRequest, DeleteMessageRequest, DisconnectUserRequest } from 'amazon-ivs-chat-messaging';
import {
  CreateChatTokenCommand,
  DeleteMessageCommand,
  DeleteRoomCommand,
  DisconnectUserCommand,
  SendEventCommand,
  UpdateRoomCommand,
} from '@aws-sdk/client-ivschat';
import {
  ID_RE,
  NATIVE_WEBSOCKET,
  Resources,
  STEP_MS,
  assertCloseTo,
  client,
  rejectionOf,
  withTimeout,
} from './helpers.mjs';

const ALL_CAPS = ['SEND_MESSAGE', 'DELETE_MESSAGE', 'DISCONNECT_USER'];
const T = { timeout: 60_000 };

/** A chat SDK request promise that must resolve (within the step timeout). */
const settle = (promise, what) => withTimeout(promise, what);

/** Checks the plain-object rejection the SDK produces from an ERROR frame. */
function assertChatError(err, code, request, what) {
  assert.ok(err && typeof err === 'object', `${what}: rejection is not an object: ${err}`);
  assert.ok(!(err instanceof Error), `${what}: expected a plain ChatError object, got Error: ${err?.message}`);
  assert.equal(err.errorCode, code, `${what}: errorCode (${JSON.stringify(err)})`);
  assert.equal(typeof err.errorMessage, 'string', `${what}: errorMessage`);
  assert.ok(err.errorMessage.length > 0, `${what}: empty errorMessage`);
  assert.equal(err.requestId, request.requestId, `${what}: requestId`);
  assert.match(err.id, ID_RE, `${what}: error id`);
}

test('the SDK has a WebSocket global: `ws` unless Node provides one (Node 20 without --experimental-websocket does not)', () => {
  if (NATIVE_WEBSOCKET) {
    // Node >= 22 (or started with the flag): the built-in WebSocket is used everywhere.
    assert.equal(typeof globalThis.WebSocket, 'function');
  } else {
    assert.equal(globalThis.WebSocket, WebSocketImpl);
  }
});

test('two users: sendMessage resolves with the echo and the other user receives it', T, async (t) => {
  const res = Resources.track(t);
  const { arn } = await res.room();
  const alice = await res.connect(arn, 'alice', {
    capabilities: ['SEND_MESSAGE'],
    attributes: { displayName: 'Alice', role: 'host' },
  });
  const bob = await res.connect(arn, 'bob'); // view only

  const before = Date.now();
  const req = new SendMessageRequest('hello 👋 bob', { kind: 'greeting', 'emoji-ü': 'ñ' });
  const sent = await settle(alice.room.sendMessage(req), 'alice sendMessage');

  assert.match(sent.id, ID_RE, 'message id: 12 alphanumerics');
  assert.equal(sent.content, 'hello 👋 bob');
  assert.equal(sent.requestId, req.requestId);
  assert.deepEqual(sent.attributes, { kind: 'greeting', 'emoji-ü': 'ñ' });
  assert.equal(sent.sender.userId, 'alice');
  assert.deepEqual(sent.sender.attributes, { displayName: 'Alice', role: 'host' });
  assert.ok(sent.sendTime instanceof Date && !Number.isNaN(sent.sendTime.getTime()), 'sendTime is a valid Date');
  assertCloseTo(sent.sendTime, before, 5000, 'sendTime');

  const got = await bob.rec.next('message', (m) => m.id === sent.id, 'bob receives the message');
  assert.equal(got.content, sent.content);
  assert.equal(got.sender.userId, 'alice');
  assert.deepEqual(got.sender.attributes, sent.sender.attributes);
  assert.deepEqual(got.attributes, sent.attributes);
  assert.equal(got.sendTime.getTime(), sent.sendTime.getTime());
  assert.equal(got.requestId, req.requestId, 'the broadcast carries the RequestId');

  // The sender's own `message` listener fires too.
  await alice.rec.next('message', (m) => m.id === sent.id, 'alice receives her own message');

  // A message without attributes; ids are fresh per message.
  const plain = await settle(alice.room.sendMessage(new SendMessageRequest('second')), 'second sendMessage');
  assert.match(plain.id, ID_RE);
  assert.notEqual(plain.id, sent.id);
  assert.ok(plain.attributes == null || Object.keys(plain.attributes).length === 0, JSON.stringify(plain.attributes));
  await bob.rec.next('message', (m) => m.id === plain.id, 'bob receives the second message');
  assert.deepEqual(
    bob.rec.all('message').map((m) => m.id),
    [sent.id, plain.id],
    'bob saw exactly the two messages, in order',
  );
});

test('deleteMessage resolves and the other user gets messageDelete', T, async (t) => {
  const res = Resources.track(t);
  const { arn } = await res.room();
  const mod = await res.connect(arn, 'mod', { capabilities: ['SEND_MESSAGE', 'DELETE_MESSAGE'] });
  const viewer = await res.connect(arn, 'viewer');

  const msg = await settle(mod.room.sendMessage(new SendMessageRequest('oops')), 'sendMessage');
  const req = new DeleteMessageRequest(msg.id, 'off topic');
  const del = await settle(mod.room.deleteMessage(req), 'deleteMessage');
  assert.equal(del.messageId, msg.id);
  assert.equal(del.reason, 'off topic');
  assert.equal(del.requestId, req.requestId);
  assert.match(del.id, ID_RE, 'event id');
  assert.notEqual(del.id, msg.id, 'the event has its own id');
  assert.ok(del.sendTime instanceof Date && !Number.isNaN(del.sendTime.getTime()));

  const seen = await viewer.rec.next('messageDelete', (e) => e.messageId === msg.id, 'viewer messageDelete');
  assert.equal(seen.reason, 'off topic');
  assert.equal(seen.id, del.id);
  await mod.rec.next('messageDelete', (e) => e.id === del.id, "mod's own messageDelete listener");

  // Without a reason.
  const req2 = new DeleteMessageRequest(msg.id);
  const del2 = await settle(mod.room.deleteMessage(req2), 'deleteMessage without reason');
  assert.equal(del2.messageId, msg.id);
  assert.ok(del2.reason == null || del2.reason === '', `reason: ${JSON.stringify(del2.reason)}`);
  assert.notEqual(del2.id, del.id);
});

test('disconnectUser kicks every connection of the user; the moderator promise resolves', T, async (t) => {
  const res = Resources.track(t);
  const { arn } = await res.room();
  const mod = await res.connect(arn, 'mod', { capabilities: ['DISCONNECT_USER'] });
  const victim1 = await res.connect(arn, 'victim');
  const victim2 = await res.connect(arn, 'victim'); // a second connection of the same user
  const bystander = await res.connect(arn, 'bystander');

  const req = new DisconnectUserRequest('victim', 'spamming');
  const done = await settle(mod.room.disconnectUser(req), 'disconnectUser');
  assert.equal(done.userId, 'victim');
  assert.equal(done.reason, 'spamming');
  assert.equal(done.requestId, req.requestId);
  assert.match(done.id, ID_RE);

  for (const [name, v] of [
    ['victim#1', victim1],
    ['victim#2', victim2],
  ]) {
    const ud = await v.rec.next('userDisconnect', (e) => e.userId === 'victim', `${name} userDisconnect`);
    assert.equal(ud.reason, 'spamming');
    const reason = await v.rec.next('disconnect', () => true, `${name} disconnect`);
    assert.equal(reason, 'serverDisconnect', `${name} disconnect reason`);
    const iUd = v.rec.indexOf((e) => e.name === 'userDisconnect');
    const iDc = v.rec.indexOf((e) => e.name === 'disconnect');
    assert.ok(iUd < iDc, `${name}: userDisconnect (#${iUd}) before disconnect (#${iDc})`);
    assert.equal(v.room.state, 'disconnected');
    assert.equal(v.calls.count, 1, `${name}: the SDK did not reconnect after a server disconnect`);
  }

  const seen = await bystander.rec.next('userDisconnect', (e) => e.id === done.id, 'bystander userDisconnect');
  assert.equal(seen.userId, 'victim');
  assert.equal(bystander.room.state, 'connected');
  assert.equal(mod.room.state, 'connected');
  // The room still works for those who stayed.
  const again = await settle(
    mod.room.disconnectUser(new DisconnectUserRequest('nobody-here')),
    'disconnectUser of an absent user still resolves',
  );
  assert.equal(again.userId, 'nobody-here');
  assert.deepEqual(bystander.rec.all('disconnect'), []);
});

test('control-plane SendEvent reaches both users; its id is the event id', T, async (t) => {
  const res = Resources.track(t);
  const { arn } = await res.room();
  const a = await res.connect(arn, 'user-a');
  const b = await res.connect(arn, 'user-b');

  const before = Date.now();
  const out = await client.send(
    new SendEventCommand({ roomIdentifier: arn, eventName: 'app:poll-opened', attributes: { question: 'Tea?', n: '2' } }),
  );
  assert.match(out.id, ID_RE);
  for (const [name, u] of [
    ['user-a', a],
    ['user-b', b],
  ]) {
    const ev = await u.rec.next('event', (e) => e.id === out.id, `${name} event`);
    assert.equal(ev.eventName, 'app:poll-opened');
    assert.deepEqual(ev.attributes, { question: 'Tea?', n: '2' });
    assertCloseTo(ev.sendTime, before, 5000, `${name} sendTime`);
  }

  // Without attributes.
  const out2 = await client.send(new SendEventCommand({ roomIdentifier: arn, eventName: 'bare' }));
  const ev2 = await a.rec.next('event', (e) => e.id === out2.id, 'bare event');
  assert.equal(ev2.eventName, 'bare');
  assert.ok(ev2.attributes == null || Object.keys(ev2.attributes).length === 0, JSON.stringify(ev2.attributes));
});

test('control-plane DeleteMessage reaches the clients as messageDelete', T, async (t) => {
  const res = Resources.track(t);
  const { arn } = await res.room();
  const a = await res.connect(arn, 'writer', { capabilities: ['SEND_MESSAGE'] });
  const b = await res.connect(arn, 'reader');
  const msg = await settle(a.room.sendMessage(new SendMessageRequest('to be removed')), 'sendMessage');

  const out = await client.send(new DeleteMessageCommand({ roomIdentifier: arn, id: msg.id, reason: 'moderated' }));
  assert.match(out.id, ID_RE);
  for (const [name, u] of [
    ['writer', a],
    ['reader', b],
  ]) {
    const ev = await u.rec.next('messageDelete', (e) => e.id === out.id, `${name} messageDelete`);
    assert.equal(ev.messageId, msg.id);
    assert.equal(ev.reason, 'moderated');
  }
});

test('control-plane DisconnectUser reaches the clients and closes the target', T, async (t) => {
  const res = Resources.track(t);
  const { arn } = await res.room();
  const target = await res.connect(arn, 'target-user');
  const other = await res.connect(arn, 'other-user');

  const out = await client.send(new DisconnectUserCommand({ roomIdentifier: arn, userId: 'target-user', reason: 'banned' }));
  assert.equal(out.$metadata.httpStatusCode, 200);

  const ud = await target.rec.next('userDisconnect', (e) => e.userId === 'target-user', 'target userDisconnect');
  assert.equal(ud.reason, 'banned');
  assert.equal(await target.rec.next('disconnect', () => true, 'target disconnect'), 'serverDisconnect');
  assert.ok(
    target.rec.indexOf((e) => e.name === 'userDisconnect') < target.rec.indexOf((e) => e.name === 'disconnect'),
    'userDisconnect before disconnect',
  );
  const seen = await other.rec.next('userDisconnect', (e) => e.userId === 'target-user', 'other userDisconnect');
  assert.equal(seen.reason, 'banned');
  assert.equal(seen.id, ud.id);
  assert.equal(other.room.state, 'connected');
});

test('capability errors: requests without the capability reject with {errorCode: 403}', T, async (t) => {
  const res = Resources.track(t);
  const { arn } = await res.room();
  const viewer = await res.connect(arn, 'viewer'); // no capabilities
  const sender = await res.connect(arn, 'sender', { capabilities: ['SEND_MESSAGE'] });
  const watcher = await res.connect(arn, 'watcher');

  const send = new SendMessageRequest('may I?');
  assertChatError(await rejectionOf(viewer.room.sendMessage(send), 'viewer sendMessage'), 403, send, 'sendMessage');

  const msg = await settle(sender.room.sendMessage(new SendMessageRequest('a real message')), 'sender sendMessage');
  const del = new DeleteMessageRequest(msg.id, 'no');
  assertChatError(await rejectionOf(viewer.room.deleteMessage(del), 'viewer deleteMessage'), 403, del, 'deleteMessage (viewer)');
  const del2 = new DeleteMessageRequest(msg.id);
  assertChatError(
    await rejectionOf(sender.room.deleteMessage(del2), 'sender deleteMessage'),
    403,
    del2,
    'deleteMessage (SEND_MESSAGE only)',
  );
  const kick = new DisconnectUserRequest('sender', 'no');
  assertChatError(await rejectionOf(viewer.room.disconnectUser(kick), 'viewer disconnectUser'), 403, kick, 'disconnectUser');

  // Nothing was broadcast for the rejected requests: a marker sent afterwards is the next
  // thing the watcher sees after the real message (frames on one connection are ordered).
  const marker = await settle(sender.room.sendMessage(new SendMessageRequest('marker')), 'marker');
  await watcher.rec.next('message', (m) => m.id === marker.id, 'watcher sees the marker');
  assert.deepEqual(
    watcher.rec.all('message').map((m) => m.content),
    ['a real message', 'marker'],
  );
  assert.deepEqual(watcher.rec.all('messageDelete'), []);
  assert.deepEqual(watcher.rec.all('userDisconnect'), []);
  for (const u of [viewer, sender, watcher]) {
    assert.equal(u.room.state, 'connected', `${u.userId} stays connected`);
  }
});

test('length limit: maximumMessageLength 5 (code points); 6 characters reject with 400', T, async (t) => {
  const res = Resources.track(t);
  const { arn } = await res.room({ maximumMessageLength: 5 });
  const u = await res.connect(arn, 'writer', { capabilities: ['SEND_MESSAGE'] });

  const ok = await settle(u.room.sendMessage(new SendMessageRequest('abcde')), '5-char message');
  assert.equal(ok.content, 'abcde');
  const emoji = '😀😀😀😀😀'; // 5 code points, 10 UTF-16 units, 20 bytes
  const okEmoji = await settle(u.room.sendMessage(new SendMessageRequest(emoji)), '5-emoji message');
  assert.equal(okEmoji.content, emoji);

  const long = new SendMessageRequest('abcdef');
  assertChatError(await rejectionOf(u.room.sendMessage(long), '6-char message'), 400, long, 'too long');
  assert.equal(u.room.state, 'connected');
});

test('UpdateRoom maximumMessageLength applies to a live connection', T, async (t) => {
  const res = Resources.track(t);
  const { arn } = await res.room();
  const u = await res.connect(arn, 'writer', { capabilities: ['SEND_MESSAGE'] });
  await settle(u.room.sendMessage(new SendMessageRequest('abcdef')), 'before the update');
  await client.send(new UpdateRoomCommand({ identifier: arn, maximumMessageLength: 3 }));
  const long = new SendMessageRequest('abcd');
  assertChatError(await rejectionOf(u.room.sendMessage(long), 'after the update'), 400, long, 'too long after update');
  await settle(u.room.sendMessage(new SendMessageRequest('abc')), '3 chars after the update');
});

test('rate limit: maximumMessageRatePerSecond 1; the second quick send rejects with 429', T, async (t) => {
  const res = Resources.track(t);
  const { arn } = await res.room({ maximumMessageRatePerSecond: 1 });
  const u = await res.connect(arn, 'chatty', { capabilities: ['SEND_MESSAGE', 'DELETE_MESSAGE'] });
  const other = await res.connect(arn, 'listener');

  const first = new SendMessageRequest('one');
  const second = new SendMessageRequest('two');
  const p1 = u.room.sendMessage(first);
  const p2 = u.room.sendMessage(second);
  const sent = await settle(p1, 'first send');
  assert.equal(sent.content, 'one');
  assertChatError(await rejectionOf(p2, 'second send'), 429, second, 'rate limited');

  // Still connected, and the connection still works.
  assert.equal(u.room.state, 'connected');
  const del = await settle(u.room.deleteMessage(new DeleteMessageRequest(sent.id)), 'deleteMessage after 429');
  assert.equal(del.messageId, sent.id);
  await other.rec.next('messageDelete', (e) => e.id === del.id, 'listener messageDelete');
  assert.deepEqual(
    other.rec.all('message').map((m) => m.content),
    ['one'],
    'the rejected message was not delivered',
  );
  assert.deepEqual(u.rec.all('disconnect'), []);
  assert.equal(u.calls.count, 1, 'no reconnect');
});

test('a used token cannot connect again: the SDK retries, then disconnect(socketError)', T, async (t) => {
  const res = Resources.track(t);
  const { arn } = await res.room();
  const { token } = await client.send(new CreateChatTokenCommand({ roomIdentifier: arn, userId: 'reuser' }));

  // First use works.
  const first = res.chatRoom(arn, 'reuser', { tokenProvider: async () => ({ token }) });
  first.room.connect();
  await first.rec.next('connect', () => true, 'first use connects');
  first.room.disconnect();
  assert.equal(await first.rec.next('disconnect', () => true, 'client disconnect'), 'clientDisconnect');

  // Second use: every attempt (1 + maxReconnectAttempts) fails the handshake.
  const second = res.chatRoom(arn, 'reuser', { tokenProvider: async () => ({ token }), maxReconnectAttempts: 3 });
  second.room.connect();
  assert.equal(await second.rec.next('disconnect', () => true, 'second use fails'), 'socketError');
  assert.deepEqual(second.rec.all('connect'), [], 'never connected');
  assert.equal(second.calls.count, 4, 'tokenProvider called for the first attempt and 3 retries');
  assert.equal(second.room.state, 'disconnected');

  // The same holds while the first connection is still open.
  const { token: t2 } = await client.send(new CreateChatTokenCommand({ roomIdentifier: arn, userId: 'holder' }));
  const holder = res.chatRoom(arn, 'holder', { tokenProvider: async () => ({ token: t2 }) });
  holder.room.connect();
  await holder.rec.next('connect', () => true, 'holder connects');
  const thief = res.chatRoom(arn, 'holder', { tokenProvider: async () => ({ token: t2 }), maxReconnectAttempts: 1 });
  thief.room.connect();
  assert.equal(await thief.rec.next('disconnect', () => true, 'reuse while open fails'), 'socketError');
  assert.equal(thief.calls.count, 2);
  assert.equal(holder.room.state, 'connected', 'the rightful connection is unaffected');
});

test('tokens that were never issued, or for a deleted room, cannot connect', T, async (t) => {
  const res = Resources.track(t);
  const { arn } = await res.room();
  const bogus = res.chatRoom(arn, 'x', {
    tokenProvider: async () => ({ token: 'AQICAHh-not-a-real-token_0123456789abcdefABCDEF' }),
    maxReconnectAttempts: 0,
  });
  bogus.room.connect();
  assert.equal(await bogus.rec.next('disconnect', () => true, 'bogus token'), 'socketError');
  assert.equal(bogus.calls.count, 1);

  const { token } = await client.send(new CreateChatTokenCommand({ roomIdentifier: arn, userId: 'late' }));
  await client.send(new DeleteRoomCommand({ identifier: arn }));
  const late = res.chatRoom(arn, 'late', { tokenProvider: async () => ({ token }), maxReconnectAttempts: 0 });
  late.room.connect();
  assert.equal(await late.rec.next('disconnect', () => true, 'token of a deleted room'), 'socketError');
});

test('DeleteRoom while connected: every client gets disconnect(serverDisconnect)', T, async (t) => {
  const res = Resources.track(t);
  const { arn } = await res.room();
  const a = await res.connect(arn, 'a', { capabilities: ALL_CAPS });
  const b = await res.connect(arn, 'b');
  await settle(a.room.sendMessage(new SendMessageRequest('last words')), 'sendMessage');

  await client.send(new DeleteRoomCommand({ identifier: arn }));
  for (const [name, u] of [
    ['a', a],
    ['b', b],
  ]) {
    assert.equal(await u.rec.next('disconnect', () => true, `${name} disconnect`), 'serverDisconnect');
    assert.equal(u.room.state, 'disconnected');
    assert.equal(u.calls.count, 1, `${name}: no reconnect attempt`);
  }
});

test('client disconnect: room.disconnect() gives clientDisconnect; the others stay', T, async (t) => {
  const res = Resources.track(t);
  const { arn } = await res.room();
  const a = await res.connect(arn, 'leaver');
  const b = await res.connect(arn, 'stayer', { capabilities: ['SEND_MESSAGE'] });
  a.room.disconnect();
  assert.equal(await a.rec.next('disconnect', () => true, 'leaver disconnect'), 'clientDisconnect');
  const msg = await settle(b.room.sendMessage(new SendMessageRequest('still here')), 'stayer sendMessage');
  assert.equal(msg.content, 'still here');
  assert.deepEqual(a.rec.all('message'), []);

  // A new token lets the same user come back.
  const back = await res.connect(arn, 'leaver');
  const msg2 = await settle(b.room.sendMessage(new SendMessageRequest('welcome back')), 'second message');
  await back.rec.next('message', (m) => m.id === msg2.id, 'returning user receives messages');
});

// Once the SDK has emitted `connect` (the socket is open), the connection is in the room: a
// message sent right then must reach it, and a kick sent right then must close it.  Repeated
// because a server that joins the room only after completing the handshake loses these in a
// small window.
const MESSAGE_ROUNDS = 30;
const KICK_ROUNDS = 50;

test('a message sent right after `connect` reaches the new connection', T, async (t) => {
  const res = Resources.track(t);
  const { arn } = await res.room({ maximumMessageRatePerSecond: 100 });
  let sender;
  for (let i = 0; i < MESSAGE_ROUNDS; i++) {
    // A fresh sender every 8 messages keeps under the 10 requests/s per-connection quota.
    if (i % 8 === 0) sender = await res.connect(arn, `sender-${i}`, { capabilities: ['SEND_MESSAGE'] });
    const listener = await res.connect(arn, `listener-${i}`);
    const msg = await settle(sender.room.sendMessage(new SendMessageRequest(`round ${i}`)), `send round ${i}`);
    await listener.rec.next('message', (m) => m.id === msg.id, `round ${i}: the new connection receives the message`);
    listener.room.disconnect();
  }
});

test('a kick sent right after `connect` closes the new connection', T, async (t) => {
  const res = Resources.track(t);
  const { arn } = await res.room();
  let mod;
  for (let i = 0; i < KICK_ROUNDS; i++) {
    if (i % 8 === 0) mod = await res.connect(arn, `mod-${i}`, { capabilities: ['DISCONNECT_USER'] });
    const victim = await res.connect(arn, `victim-${i}`);
    await settle(mod.room.disconnectUser(new DisconnectUserRequest(`victim-${i}`, 'go')), `kick round ${i}`);
    assert.equal(
      await victim.rec.next('disconnect', () => true, `round ${i}: the kicked connection is closed`),
      'serverDisconnect',
    );
  }
});

test('the handshake also works with Node’s built-in WebSocket (--experimental-websocket)', T, async () => {
  const script = fileURLToPath(new URL('./native-websocket-client.mjs', import.meta.url));
  const child = spawn(process.execPath, ['--experimental-websocket', script], {
    env: process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const code = await withTimeout(
    new Promise((resolve, reject) => {
      child.on('error', reject);
      child.on('exit', (c, signal) => resolve(signal ?? c));
    }),
    'native WebSocket child process',
    STEP_MS * 8,
  ).catch((err) => {
    child.kill('SIGKILL');
    throw err;
  });
  assert.equal(code, 0, `child failed (exit ${code})\n--- stdout\n${stdout}\n--- stderr\n${stderr}`);
  const result = JSON.parse(stdout.trim().split('\n').at(-1));
  assert.equal(result.native, true, 'the child used the built-in WebSocket');
  assert.match(result.messageId, ID_RE);
});
