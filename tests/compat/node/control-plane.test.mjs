// @aws-sdk/client-ivschat (aws-sdk-js-v3) against ivschat-server's control plane.
// Run by tests/compat/run-node.sh.  Every test creates its own resources and deletes them.
//
// Note: aws-sdk-js-v3 does no client-side constraint validation (no min/max/pattern checks),
// so invalid values reach the server as sent.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ConflictException,
  CreateChatTokenCommand,
  CreateLoggingConfigurationCommand,
  CreateRoomCommand,
  DeleteLoggingConfigurationCommand,
  DeleteMessageCommand,
  DeleteRoomCommand,
  DisconnectUserCommand,
  GetLoggingConfigurationCommand,
  GetRoomCommand,
  ListLoggingConfigurationsCommand,
  ListRoomsCommand,
  ListTagsForResourceCommand,
  ResourceNotFoundException,
  SendEventCommand,
  ServiceQuotaExceededException,
  TagResourceCommand,
  UntagResourceCommand,
  UpdateLoggingConfigurationCommand,
  UpdateRoomCommand,
  ValidationException,
  paginateListLoggingConfigurations,
  paginateListRooms,
} from '@aws-sdk/client-ivschat';
import {
  ID_RE,
  LOGGING_ARN_RE,
  ROOM_ARN_RE,
  Resources,
  TOKEN_RE,
  UUID_RE,
  assertCloseTo,
  assertServiceError,
  awsError,
  body,
  client,
  lambdaArn,
  listAllLoggings,
  listAllRooms,
  makeClient,
  unique,
  unknownLoggingArn,
  unknownRoomArn,
} from './helpers.mjs';

const T = { timeout: 60_000 };
const S3 = { s3: { bucketName: 'node-compat-bucket' } };
const CWL = { cloudWatchLogs: { logGroupName: '/aws/ivschat/node-compat' } };
const FIREHOSE = { firehose: { deliveryStreamName: 'node-compat-stream' } };

const ROOM_KEYS = [
  'arn',
  'createTime',
  'id',
  'loggingConfigurationIdentifiers',
  'maximumMessageLength',
  'maximumMessageRatePerSecond',
  'messageReviewHandler',
  'name',
  'tags',
  'updateTime',
];
const ROOM_SUMMARY_KEYS = ROOM_KEYS.filter((k) => !k.startsWith('maximumMessage'));
const LOGGING_KEYS = ['arn', 'createTime', 'destinationConfiguration', 'id', 'name', 'state', 'tags', 'updateTime'];

const keys = (o) => Object.keys(body(o)).sort();

function assertOk(resp, status = 200) {
  assert.equal(resp.$metadata.httpStatusCode, status);
  assert.match(resp.$metadata.requestId ?? '', UUID_RE, 'x-amzn-RequestId');
}

function assertRoom(room) {
  assert.deepEqual(keys(room), ROOM_KEYS);
  const m = ROOM_ARN_RE.exec(room.arn);
  assert.ok(m, `room arn ${room.arn}`);
  assert.equal(room.id, m[1]);
  assert.match(room.id, ID_RE);
  assert.ok(room.createTime instanceof Date && room.updateTime instanceof Date);
}

function assertLogging(cfg) {
  assert.deepEqual(keys(cfg), LOGGING_KEYS);
  const m = LOGGING_ARN_RE.exec(cfg.arn);
  assert.ok(m, `logging configuration arn ${cfg.arn}`);
  assert.equal(cfg.id, m[1]);
  assert.ok(cfg.createTime instanceof Date && cfg.updateTime instanceof Date);
}

function assertNotFound(err, resourceId) {
  assertServiceError(err, 'ResourceNotFoundException', 404);
  assert.ok(err instanceof ResourceNotFoundException, 'typed ResourceNotFoundException');
  assert.equal(err.resourceType, 'ROOM');
  assert.match(err.resourceId ?? '', ID_RE);
  if (resourceId) assert.equal(err.resourceId, resourceId);
}

function assertValidation(err, ...fields) {
  assertServiceError(err, 'ValidationException', 400);
  assert.ok(err instanceof ValidationException, 'typed ValidationException');
  assert.equal(err.reason, 'FIELD_VALIDATION_FAILED');
  assert.ok(Array.isArray(err.fieldList) && err.fieldList.length > 0, `fieldList: ${JSON.stringify(err.fieldList)}`);
  for (const entry of err.fieldList) {
    assert.deepEqual(Object.keys(entry).sort(), ['message', 'name'], JSON.stringify(entry));
    assert.ok(entry.name && entry.message, JSON.stringify(entry));
  }
  const names = err.fieldList.map((e) => e.name);
  for (const f of fields) {
    assert.ok(
      names.some((n) => n.includes(f)),
      `${f} not among fieldList names ${JSON.stringify(names)}`,
    );
  }
}

const tail = (arn) => arn.split('/').pop();

// ---------------------------------------------------------------------------------------
// Rooms
// ---------------------------------------------------------------------------------------

test('CreateRoom with no input fills in the defaults', T, async (t) => {
  const res = Resources.track(t);
  const before = Date.now();
  const room = await res.room();
  assertOk(room);
  assertRoom(room);
  assert.equal(room.name, '');
  assert.equal(room.maximumMessageRatePerSecond, 10);
  assert.equal(room.maximumMessageLength, 500);
  assert.deepEqual(room.messageReviewHandler, { fallbackResult: 'ALLOW' });
  assert.deepEqual(room.tags, {});
  assert.deepEqual(room.loggingConfigurationIdentifiers, []);
  assertCloseTo(room.createTime, before, 15000, 'createTime');
  assertCloseTo(room.updateTime, before, 15000, 'updateTime');
});

test('CreateRoom echoes every member; GetRoom returns the same room', T, async (t) => {
  const res = Resources.track(t);
  const cfg = await res.logging();
  const handler = { uri: lambdaArn(), fallbackResult: 'DENY' };
  const name = unique();
  const room = await res.room({
    name,
    maximumMessageRatePerSecond: 42,
    maximumMessageLength: 123,
    messageReviewHandler: handler,
    tags: { team: 'compat', empty: '' },
    loggingConfigurationIdentifiers: [cfg.arn],
  });
  assertRoom(room);
  assert.equal(room.name, name);
  assert.equal(room.maximumMessageRatePerSecond, 42);
  assert.equal(room.maximumMessageLength, 123);
  assert.deepEqual(room.messageReviewHandler, handler);
  assert.deepEqual(room.tags, { team: 'compat', empty: '' });
  assert.deepEqual(room.loggingConfigurationIdentifiers, [cfg.arn]);

  const got = await client.send(new GetRoomCommand({ identifier: room.arn }));
  assertOk(got);
  assert.deepEqual(body(got), body(room));

  const uriOnly = await res.room({ messageReviewHandler: { uri: handler.uri } });
  assert.deepEqual(uriOnly.messageReviewHandler, { uri: handler.uri, fallbackResult: 'ALLOW' });
});

test('UpdateRoom: omitted members unchanged, updateTime moves forward, empty uri removes the handler', T, async (t) => {
  const res = Resources.track(t);
  const cfg = await res.logging();
  const uri = lambdaArn();
  const room = await res.room({
    name: unique(),
    maximumMessageRatePerSecond: 7,
    maximumMessageLength: 77,
    messageReviewHandler: { uri, fallbackResult: 'DENY' },
    tags: { keep: 'me' },
    loggingConfigurationIdentifiers: [cfg.arn],
  });

  const updated = await client.send(new UpdateRoomCommand({ identifier: room.arn, maximumMessageLength: 99 }));
  assertOk(updated);
  assertRoom(updated);
  assert.equal(updated.maximumMessageLength, 99);
  for (const k of ROOM_KEYS.filter((k) => !['maximumMessageLength', 'updateTime'].includes(k))) {
    assert.deepEqual(updated[k], room[k], k);
  }
  assert.ok(
    updated.updateTime > room.updateTime,
    `updateTime ${updated.updateTime.toISOString()} > ${room.updateTime.toISOString()}`,
  );
  assert.deepEqual(body(await client.send(new GetRoomCommand({ identifier: room.arn }))), body(updated));

  // Every member at once.
  const name = unique();
  const everything = await client.send(
    new UpdateRoomCommand({
      identifier: room.arn,
      name,
      maximumMessageRatePerSecond: 55,
      maximumMessageLength: 321,
      messageReviewHandler: { uri, fallbackResult: 'ALLOW' },
      loggingConfigurationIdentifiers: [],
    }),
  );
  assert.equal(everything.name, name);
  assert.equal(everything.maximumMessageRatePerSecond, 55);
  assert.equal(everything.maximumMessageLength, 321);
  assert.deepEqual(everything.messageReviewHandler, { uri, fallbackResult: 'ALLOW' });
  assert.deepEqual(everything.loggingConfigurationIdentifiers, []);
  assert.deepEqual(everything.tags, { keep: 'me' }, 'tags are not changed by UpdateRoom');
  assert.equal(everything.createTime.getTime(), room.createTime.getTime());
  assert.ok(everything.updateTime >= updated.updateTime);

  // An empty uri removes the handler.
  const removed = await client.send(new UpdateRoomCommand({ identifier: room.arn, messageReviewHandler: { uri: '' } }));
  assert.equal(removed.messageReviewHandler?.uri ?? '', '', JSON.stringify(removed.messageReviewHandler));
  const got = await client.send(new GetRoomCommand({ identifier: room.arn }));
  assert.equal(got.messageReviewHandler?.uri ?? '', '');
  assert.deepEqual(await listAllRooms({ messageReviewHandlerUri: uri }), []);
});

test('DeleteRoom returns 204; afterwards the room is ResourceNotFoundException everywhere', T, async (t) => {
  const res = Resources.track(t);
  const room = await res.room();
  const deleted = await client.send(new DeleteRoomCommand({ identifier: room.arn }));
  assertOk(deleted, 204);
  assert.deepEqual(body(deleted), {});

  const calls = [
    new GetRoomCommand({ identifier: room.arn }),
    new DeleteRoomCommand({ identifier: room.arn }),
    new UpdateRoomCommand({ identifier: room.arn, name: 'x' }),
    new CreateChatTokenCommand({ roomIdentifier: room.arn, userId: 'u' }),
    new SendEventCommand({ roomIdentifier: room.arn, eventName: 'e' }),
    new DeleteMessageCommand({ roomIdentifier: room.arn, id: 'ABCDEFabcdef' }),
    new DisconnectUserCommand({ roomIdentifier: room.arn, userId: 'u' }),
    new ListTagsForResourceCommand({ resourceArn: room.arn }),
  ];
  for (const cmd of calls) {
    const err = await awsError(client.send(cmd), cmd.constructor.name);
    assertNotFound(err, room.id);
  }
  const unknown = unknownRoomArn();
  assertNotFound(await awsError(client.send(new GetRoomCommand({ identifier: unknown }))), tail(unknown));
});

// ---------------------------------------------------------------------------------------
// ListRooms
// ---------------------------------------------------------------------------------------

test('ListRooms pagination: paginateListRooms with pageSize, and manual nextToken', T, async (t) => {
  const res = Resources.track(t);
  const name = unique();
  const created = [];
  for (let i = 0; i < 5; i++) created.push(await res.room({ name }));

  const pages = [];
  for await (const page of paginateListRooms({ client, pageSize: 2 }, { name })) {
    assertOk(page);
    pages.push(page);
  }
  assert.deepEqual(
    pages.map((p) => p.rooms.length),
    [2, 2, 1],
  );
  assert.ok(pages[0].nextToken && pages[1].nextToken, 'a token on every page but the last');
  assert.notEqual(pages[0].nextToken, pages[1].nextToken);
  assert.ok(!('nextToken' in pages[2]) || pages[2].nextToken === undefined, 'no token on the last page');
  const ids = pages.flatMap((p) => p.rooms.map((r) => r.id));
  assert.deepEqual([...ids].sort(), created.map((r) => r.id).sort());
  const times = pages.flatMap((p) => p.rooms.map((r) => r.updateTime.getTime()));
  assert.deepEqual(times, [...times].sort((a, b) => b - a), 'sorted by updateTime, newest first');

  // Manual nextToken.
  const p1 = await client.send(new ListRoomsCommand({ name, maxResults: 3 }));
  assert.equal(p1.rooms.length, 3);
  assert.ok(p1.nextToken);
  const p2 = await client.send(new ListRoomsCommand({ name, maxResults: 3, nextToken: p1.nextToken }));
  assert.equal(p2.rooms.length, 2);
  assert.equal(p2.nextToken, undefined);
  assert.deepEqual([...p1.rooms, ...p2.rooms].map((r) => r.id), ids);

  // An exact fit carries no token.
  const exact = await client.send(new ListRoomsCommand({ name, maxResults: 5 }));
  assert.equal(exact.rooms.length, 5);
  assert.equal(exact.nextToken, undefined);

  // Summaries have no maximumMessage* members.
  for (const s of exact.rooms) assert.deepEqual(keys(s), ROOM_SUMMARY_KEYS);

  // Touching the oldest moves it to the front.
  const oldest = created[0];
  await client.send(new UpdateRoomCommand({ identifier: oldest.arn, maximumMessageLength: 300 }));
  const again = await client.send(new ListRoomsCommand({ name }));
  assert.equal(again.rooms[0].id, oldest.id);

  const bad = await awsError(client.send(new ListRoomsCommand({ nextToken: 'not-a-real-token' })));
  assertServiceError(bad, 'ValidationException', 400);
  const big = await awsError(client.send(new ListRoomsCommand({ maxResults: 51 })));
  assertValidation(big, 'maxResults');
});

test('ListRooms filters: name, messageReviewHandlerUri, loggingConfigurationIdentifier, combined', T, async (t) => {
  const res = Resources.track(t);
  const cfg = await res.logging();
  const name = unique();
  const uri = lambdaArn();
  const both = await res.room({
    name,
    messageReviewHandler: { uri },
    tags: { a: 'b' },
    loggingConfigurationIdentifiers: [cfg.arn],
  });
  const nameOnly = await res.room({ name });
  const uriOnly = await res.room({ messageReviewHandler: { uri } });
  const cfgOnly = await res.room({ loggingConfigurationIdentifiers: [cfg.arn] });

  const ids = (rooms) => rooms.map((r) => r.id).sort();
  assert.deepEqual(ids(await listAllRooms({ name })), ids([both, nameOnly]));
  assert.deepEqual(ids(await listAllRooms({ messageReviewHandlerUri: uri })), ids([both, uriOnly]));
  assert.deepEqual(ids(await listAllRooms({ loggingConfigurationIdentifier: cfg.arn })), ids([both, cfgOnly]));
  assert.deepEqual(ids(await listAllRooms({ name, messageReviewHandlerUri: uri })), ids([both]));
  assert.deepEqual(
    ids(await listAllRooms({ name, messageReviewHandlerUri: uri, loggingConfigurationIdentifier: cfg.arn })),
    ids([both]),
  );

  const [summary] = (await client.send(new ListRoomsCommand({ name, messageReviewHandlerUri: uri }))).rooms;
  assert.deepEqual(keys(summary), ROOM_SUMMARY_KEYS);
  for (const k of ROOM_SUMMARY_KEYS) assert.deepEqual(summary[k], both[k], k);

  // Without a filter, a new room is somewhere in the full listing.
  const all = await listAllRooms({ maxResults: 50 });
  assert.ok(all.some((r) => r.id === both.id));
});

// ---------------------------------------------------------------------------------------
// Logging configurations
// ---------------------------------------------------------------------------------------

test('logging configurations: create (S3, CloudWatch Logs, Firehose), get, update, list, delete', T, async (t) => {
  const res = Resources.track(t);
  const before = Date.now();
  const made = [];
  for (const destination of [S3, CWL, FIREHOSE]) {
    const kind = Object.keys(destination)[0];
    const name = unique();
    const cfg = await res.logging({ destinationConfiguration: destination, name, tags: { kind } });
    assertOk(cfg);
    assertLogging(cfg);
    assert.equal(cfg.state, 'ACTIVE');
    assert.equal(cfg.name, name);
    assert.deepEqual(cfg.destinationConfiguration, destination);
    assert.deepEqual(cfg.tags, { kind });
    assertCloseTo(cfg.createTime, before, 15000, 'createTime');
    const got = await client.send(new GetLoggingConfigurationCommand({ identifier: cfg.arn }));
    assertOk(got);
    assert.deepEqual(body(got), body(cfg));
    made.push(cfg);
  }

  const defaults = await res.logging({ destinationConfiguration: S3 });
  assert.equal(defaults.name, '');
  assert.deepEqual(defaults.tags, {});

  // Update: rename keeps the destination; a new destination keeps the name.
  const [cfg] = made;
  const newName = unique();
  const renamed = await client.send(new UpdateLoggingConfigurationCommand({ identifier: cfg.arn, name: newName }));
  assertOk(renamed);
  assertLogging(renamed);
  assert.equal(renamed.name, newName);
  assert.deepEqual(renamed.destinationConfiguration, S3);
  assert.equal(renamed.state, 'ACTIVE');
  assert.deepEqual(renamed.tags, { kind: 's3' });
  assert.equal(renamed.createTime.getTime(), cfg.createTime.getTime());
  assert.ok(renamed.updateTime > cfg.updateTime, 'updateTime moves forward');
  const moved = await client.send(
    new UpdateLoggingConfigurationCommand({ identifier: cfg.arn, destinationConfiguration: FIREHOSE }),
  );
  assert.deepEqual(moved.destinationConfiguration, FIREHOSE);
  assert.equal(moved.name, newName);
  assert.deepEqual(body(await client.send(new GetLoggingConfigurationCommand({ identifier: cfg.arn }))), body(moved));

  // List: everything, with the paginator (pageSize 1) and by hand.
  const everything = await listAllLoggings();
  const byId = new Map(everything.map((c) => [c.id, c]));
  assert.equal(byId.size, everything.length, 'a configuration was listed twice');
  for (const c of [moved, ...made.slice(1), defaults]) {
    assert.deepEqual(keys(byId.get(c.id)), LOGGING_KEYS);
    assert.deepEqual(byId.get(c.id), body(c));
  }
  const paged = [];
  for await (const page of paginateListLoggingConfigurations({ client, pageSize: 1 }, {})) {
    assert.ok(page.loggingConfigurations.length <= 1);
    paged.push(...page.loggingConfigurations);
  }
  assert.deepEqual(paged.map((c) => c.id).sort(), [...byId.keys()].sort());
  const first = await client.send(new ListLoggingConfigurationsCommand({ maxResults: 1 }));
  assert.equal(first.loggingConfigurations.length, 1);
  assert.ok(first.nextToken);

  // Delete: 204, then not found.
  const deleted = await client.send(new DeleteLoggingConfigurationCommand({ identifier: defaults.arn }));
  assertOk(deleted, 204);
  assert.deepEqual(body(deleted), {});
  assertNotFound(
    await awsError(client.send(new GetLoggingConfigurationCommand({ identifier: defaults.arn }))),
    defaults.id,
  );
  assertNotFound(
    await awsError(client.send(new DeleteLoggingConfigurationCommand({ identifier: defaults.arn }))),
    defaults.id,
  );
  assertNotFound(
    await awsError(client.send(new UpdateLoggingConfigurationCommand({ identifier: defaults.arn, name: 'x' }))),
    defaults.id,
  );
  assert.ok(!(await listAllLoggings()).some((c) => c.id === defaults.id));
  const unknown = unknownLoggingArn();
  assertNotFound(
    await awsError(client.send(new GetLoggingConfigurationCommand({ identifier: unknown }))),
    tail(unknown),
  );
});

test('a logging configuration in use cannot be deleted (ConflictException)', T, async (t) => {
  const res = Resources.track(t);
  const cfg = await res.logging();
  const room = await res.room({ loggingConfigurationIdentifiers: [cfg.arn] });
  const err = await awsError(client.send(new DeleteLoggingConfigurationCommand({ identifier: cfg.arn })));
  assertServiceError(err, 'ConflictException', 409);
  assert.ok(err instanceof ConflictException);
  assert.equal(err.resourceType, 'ROOM');
  assert.match(err.resourceId ?? '', ID_RE);
  // Still there, still attached.
  await client.send(new GetLoggingConfigurationCommand({ identifier: cfg.arn }));
  assert.deepEqual(
    (await client.send(new GetRoomCommand({ identifier: room.arn }))).loggingConfigurationIdentifiers,
    [cfg.arn],
  );
  // Detached, it can go.
  await client.send(new UpdateRoomCommand({ identifier: room.arn, loggingConfigurationIdentifiers: [] }));
  await client.send(new DeleteLoggingConfigurationCommand({ identifier: cfg.arn }));

  // Attaching an unknown configuration is ResourceNotFoundException; 3 attach, 4 do not.
  const unknown = unknownLoggingArn();
  assertNotFound(await awsError(res.room({ loggingConfigurationIdentifiers: [unknown] })), tail(unknown));
  const three = [];
  for (let i = 0; i < 3; i++) three.push((await res.logging()).arn);
  const full = await res.room({ loggingConfigurationIdentifiers: three });
  assert.deepEqual(full.loggingConfigurationIdentifiers, three);
  assertValidation(
    await awsError(
      client.send(new UpdateRoomCommand({ identifier: full.arn, loggingConfigurationIdentifiers: [...three, three[0]] })),
    ),
    'loggingConfigurationIdentifiers',
  );
});

// ---------------------------------------------------------------------------------------
// Tags
// ---------------------------------------------------------------------------------------

async function exerciseTags(arn, initial) {
  const listed = await client.send(new ListTagsForResourceCommand({ resourceArn: arn }));
  assertOk(listed);
  assert.deepEqual(body(listed), { tags: initial });

  const tagged = await client.send(new TagResourceCommand({ resourceArn: arn, tags: { a: '1', b: '2' } }));
  assertOk(tagged);
  assert.deepEqual(body(tagged), {});
  assert.deepEqual((await client.send(new ListTagsForResourceCommand({ resourceArn: arn }))).tags, {
    ...initial,
    a: '1',
    b: '2',
  });

  // Overwrite one, add one (empty value).
  await client.send(new TagResourceCommand({ resourceArn: arn, tags: { a: 'one', c: '' } }));
  assert.deepEqual((await client.send(new ListTagsForResourceCommand({ resourceArn: arn }))).tags, {
    ...initial,
    a: 'one',
    b: '2',
    c: '',
  });

  // Removing keys, including one that does not exist.
  const untagged = await client.send(new UntagResourceCommand({ resourceArn: arn, tagKeys: ['a', 'does-not-exist'] }));
  assertOk(untagged);
  assert.deepEqual(body(untagged), {});
  assert.deepEqual((await client.send(new ListTagsForResourceCommand({ resourceArn: arn }))).tags, {
    ...initial,
    b: '2',
    c: '',
  });
  await client.send(new UntagResourceCommand({ resourceArn: arn, tagKeys: ['b', 'c', ...Object.keys(initial)] }));
  assert.deepEqual((await client.send(new ListTagsForResourceCommand({ resourceArn: arn }))).tags, {});
}

test('tags on a room ARN: TagResource / UntagResource / ListTagsForResource', T, async (t) => {
  const res = Resources.track(t);
  const name = unique();
  const room = await res.room({ name, tags: { created: 'yes' } });
  await exerciseTags(room.arn, { created: 'yes' });
  await client.send(new TagResourceCommand({ resourceArn: room.arn, tags: { final: 'x' } }));
  assert.deepEqual((await client.send(new GetRoomCommand({ identifier: room.arn }))).tags, { final: 'x' });
  const [summary] = (await client.send(new ListRoomsCommand({ name }))).rooms;
  assert.deepEqual(summary.tags, { final: 'x' });

  // Keys and values that need encoding in the path / query string.
  const special = { 'aws-ish:key/with spaces': 'value with = and + and @', ünïcode: '✓', 'a&b=c?d#e': '%2F' };
  await client.send(new TagResourceCommand({ resourceArn: room.arn, tags: special }));
  assert.deepEqual((await client.send(new ListTagsForResourceCommand({ resourceArn: room.arn }))).tags, {
    final: 'x',
    ...special,
  });
  await client.send(new UntagResourceCommand({ resourceArn: room.arn, tagKeys: Object.keys(special) }));
  assert.deepEqual((await client.send(new ListTagsForResourceCommand({ resourceArn: room.arn }))).tags, { final: 'x' });
});

test('tags on a logging-configuration ARN', T, async (t) => {
  const res = Resources.track(t);
  const cfg = await res.logging({ tags: { created: 'yes' } });
  await exerciseTags(cfg.arn, { created: 'yes' });
  await client.send(new TagResourceCommand({ resourceArn: cfg.arn, tags: { final: 'x' } }));
  assert.deepEqual((await client.send(new GetLoggingConfigurationCommand({ identifier: cfg.arn }))).tags, {
    final: 'x',
  });
});

test('tags: unknown ARNs are ResourceNotFoundException; more than 50 tags is ValidationException', T, async (t) => {
  const res = Resources.track(t);
  for (const arn of [unknownRoomArn(), unknownLoggingArn()]) {
    for (const cmd of [
      new ListTagsForResourceCommand({ resourceArn: arn }),
      new TagResourceCommand({ resourceArn: arn, tags: { a: 'b' } }),
      new UntagResourceCommand({ resourceArn: arn, tagKeys: ['a'] }),
    ]) {
      assertNotFound(await awsError(client.send(cmd), cmd.constructor.name), tail(arn));
    }
  }
  const room = await res.room();
  const many = Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`k${i}`, 'v']));
  assertValidation(await awsError(client.send(new TagResourceCommand({ resourceArn: room.arn, tags: many }))), 'tags');
  assert.deepEqual((await client.send(new ListTagsForResourceCommand({ resourceArn: room.arn }))).tags, {});
});

// ---------------------------------------------------------------------------------------
// CreateChatToken and the messaging operations
// ---------------------------------------------------------------------------------------

test('CreateChatToken: token characters and expiry times', T, async (t) => {
  const res = Resources.track(t);
  const room = await res.room();
  const before = Date.now();
  const tok = await client.send(new CreateChatTokenCommand({ roomIdentifier: room.arn, userId: 'user-1' }));
  assertOk(tok);
  assert.deepEqual(keys(tok), ['sessionExpirationTime', 'token', 'tokenExpirationTime']);
  assert.match(tok.token, TOKEN_RE);
  assertCloseTo(tok.tokenExpirationTime, before + 60_000, 10_000, 'tokenExpirationTime');
  assertCloseTo(tok.sessionExpirationTime, before + 60 * 60_000, 10_000, 'sessionExpirationTime');

  const full = await client.send(
    new CreateChatTokenCommand({
      roomIdentifier: room.arn,
      userId: 'ünïcode user ✓',
      capabilities: ['SEND_MESSAGE', 'DELETE_MESSAGE', 'DISCONNECT_USER'],
      sessionDurationInMinutes: 5,
      attributes: { displayName: 'Zoë', color: '#fff' },
    }),
  );
  assert.match(full.token, TOKEN_RE);
  assert.notEqual(full.token, tok.token);
  assertCloseTo(full.sessionExpirationTime, before + 5 * 60_000, 10_000, 'sessionExpirationTime (5 min)');

  for (const input of [
    { roomIdentifier: room.arn, userId: '' },
    { roomIdentifier: room.arn, userId: 'u', sessionDurationInMinutes: 181 },
    { roomIdentifier: room.arn, userId: 'u', sessionDurationInMinutes: 0 },
    { roomIdentifier: room.arn, userId: 'u', capabilities: ['FLY'] },
    { roomIdentifier: room.id, userId: 'u' },
  ]) {
    const err = await awsError(client.send(new CreateChatTokenCommand(input)), JSON.stringify(input));
    assertServiceError(err, 'ValidationException', 400);
  }
});

test('SendEvent / DeleteMessage / DisconnectUser responses', T, async (t) => {
  const res = Resources.track(t);
  const room = await res.room();
  const ev = await client.send(
    new SendEventCommand({ roomIdentifier: room.arn, eventName: 'app:hello', attributes: { k: 'v' } }),
  );
  assertOk(ev);
  assert.deepEqual(keys(ev), ['id']);
  assert.match(ev.id, ID_RE);

  const del = await client.send(new DeleteMessageCommand({ roomIdentifier: room.arn, id: ev.id, reason: 'cleanup' }));
  assertOk(del);
  assert.deepEqual(keys(del), ['id']);
  assert.match(del.id, ID_RE);
  assert.notEqual(del.id, ev.id);

  const dis = await client.send(new DisconnectUserCommand({ roomIdentifier: room.arn, userId: 'nobody', reason: 'x' }));
  assertOk(dis);
  assert.deepEqual(body(dis), {});

  // Validation of the messaging operations.
  for (const cmd of [
    new SendEventCommand({ roomIdentifier: room.arn, eventName: '' }),
    new SendEventCommand({ roomIdentifier: room.arn, eventName: 'x'.repeat(101) }),
    new DeleteMessageCommand({ roomIdentifier: room.arn, id: 'short' }),
    new DeleteMessageCommand({ roomIdentifier: room.arn, id: 'ABCDEFabcdef', reason: 'r'.repeat(257) }),
    new DisconnectUserCommand({ roomIdentifier: room.arn, userId: '' }),
  ]) {
    assertServiceError(await awsError(client.send(cmd), cmd.constructor.name), 'ValidationException', 400);
  }
});

// ---------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------

test('ValidationException carries name, reason and fieldList', T, async (t) => {
  const res = Resources.track(t);
  const err = await awsError(res.room({ maximumMessageLength: 501 }));
  assertValidation(err, 'maximumMessageLength');
  assert.equal(err.$metadata.httpStatusCode, 400);

  const several = await awsError(
    res.room({ name: 'bad name!', maximumMessageRatePerSecond: 101, maximumMessageLength: 0 }),
  );
  assertValidation(several, 'name', 'maximumMessageRatePerSecond', 'maximumMessageLength');

  // A bare id where an ARN is required.
  const room = await res.room();
  assertValidation(await awsError(client.send(new GetRoomCommand({ identifier: room.id }))), 'identifier');

  // Logging destinations are checked against their patterns.
  for (const [destination, field] of [
    [{ s3: { bucketName: 'Bad_Bucket' } }, 'bucketName'],
    [{ cloudWatchLogs: { logGroupName: 'bad group!' } }, 'logGroupName'],
    [{ firehose: { deliveryStreamName: 'bad stream!' } }, 'deliveryStreamName'],
  ]) {
    assertValidation(await awsError(res.logging({ destinationConfiguration: destination })), field);
  }
});

test('ServiceQuotaExceededException at 10 logging configurations per account', T, async (t) => {
  // Create configurations until the server refuses, then delete them all at once, so the
  // account is at its quota for as short a time as possible.
  const QUOTA = 10;
  const created = [];
  const cleanup = async () => {
    for (const arn of created.splice(0)) {
      await client.send(new DeleteLoggingConfigurationCommand({ identifier: arn })).catch(() => {});
    }
  };
  t.after(cleanup);
  const existing = (await listAllLoggings()).length;
  assert.ok(existing <= QUOTA, `${existing} logging configurations exist already`);

  let refusal;
  for (let i = 0; i <= QUOTA && !refusal; i++) {
    try {
      const cfg = await client.send(
        new CreateLoggingConfigurationCommand({ destinationConfiguration: S3, name: unique('quota') }),
      );
      created.push(cfg.arn);
    } catch (err) {
      refusal = err;
    }
  }
  const total = (await listAllLoggings()).length;
  await cleanup();

  assert.ok(refusal, `no refusal after creating ${created.length} (${existing} existed before)`);
  assertServiceError(refusal, 'ServiceQuotaExceededException', 402);
  assert.ok(refusal instanceof ServiceQuotaExceededException);
  assert.equal(refusal.limit, QUOTA);
  assert.equal(refusal.resourceType, 'ROOM');
  assert.ok('resourceId' in refusal, 'resourceId member present');
  assert.equal(total, QUOTA, 'the refusal came exactly at the quota');
});

test('wrong secret → InvalidSignatureException; unknown key → UnrecognizedClientException', T, async () => {
  const bad = makeClient({ secretAccessKey: 'not-the-secret' });
  assertServiceError(await awsError(bad.send(new ListRoomsCommand({}))), 'InvalidSignatureException', 403);
  assertServiceError(
    await awsError(bad.send(new ListTagsForResourceCommand({ resourceArn: unknownRoomArn() }))),
    'InvalidSignatureException',
    403,
  );
  assertServiceError(
    await awsError(bad.send(new UntagResourceCommand({ resourceArn: unknownRoomArn(), tagKeys: ['a', 'b'] }))),
    'InvalidSignatureException',
    403,
  );
  const unknown = makeClient({ accessKeyId: 'AKIDNOTKNOWN0000', secretAccessKey: 'whatever' });
  assertServiceError(await awsError(unknown.send(new CreateRoomCommand({}))), 'UnrecognizedClientException', 403);
});
