// The OpenAPI Generator 7.9.0 `javascript` client against ivschat-server's control plane.
// Run by tests/compat/run-openapi.sh. Each test's name starts with the id of the scenario it
// backs in tests/compat/matrix/scenarios.toml ("<Scenario>: …"); the matrix is built from the
// JUnit report of this file.
//
// Requests are built with the generated model classes (`XxxRequest.constructFromObject`) and
// sent through the generated DefaultApi; responses are the generated response classes.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ID_RE,
  LOGGING_ARN_RE,
  ROOM_ARN_RE,
  Resources,
  TOKEN_RE,
  assertCloseTo,
  assertError,
  assertNotFound,
  assertValidation,
  call,
  endpoint,
  failure,
  gen,
  lambdaArn,
  listAllLoggings,
  listAllRooms,
  main,
  makeApi,
  ok,
  plain,
  tail,
  unique,
  unknownLoggingArn,
  unknownRoomArn,
} from './harness.mjs';

const T = { timeout: 60_000 };
const S3 = { s3: { bucketName: 'oajs-compat-bucket' } };
const CWL = { cloudWatchLogs: { logGroupName: '/aws/ivschat/oajs-compat' } };
const FIREHOSE = { firehose: { deliveryStreamName: 'oajs-compat-stream' } };
const ROOM_KEYS = [
  'arn', 'createTime', 'id', 'loggingConfigurationIdentifiers', 'maximumMessageLength',
  'maximumMessageRatePerSecond', 'messageReviewHandler', 'name', 'tags', 'updateTime',
];
const SUMMARY_KEYS = ROOM_KEYS.filter((k) => !k.startsWith('maximumMessage'));
const LOGGING_KEYS = ['arn', 'createTime', 'destinationConfiguration', 'id', 'name', 'state', 'tags', 'updateTime'];
const keys = (o) => Object.keys(o).sort();

const M = gen;
const req = (Model, input) => Model.constructFromObject(input);

function assertRoom(room, Model) {
  if (Model) assert.ok(room instanceof Model, `a ${Model.name}, got ${room?.constructor?.name}`);
  assert.deepEqual(keys(room), ROOM_KEYS);
  const m = ROOM_ARN_RE.exec(room.arn);
  assert.ok(m, room.arn);
  assert.equal(room.id, m[1]);
  assert.ok(room.createTime instanceof Date && room.updateTime instanceof Date, 'times parse to Dates');
  assert.ok(room.updateTime >= room.createTime);
}

function assertLogging(cfg, Model) {
  if (Model) assert.ok(cfg instanceof Model, `a ${Model.name}, got ${cfg?.constructor?.name}`);
  assert.deepEqual(keys(cfg), LOGGING_KEYS);
  const m = LOGGING_ARN_RE.exec(cfg.arn);
  assert.ok(m, cfg.arn);
  assert.equal(cfg.id, m[1]);
  assert.ok(cfg.createTime instanceof Date && cfg.updateTime instanceof Date);
}

/**
 * Operations whose output is an empty structure (TagResource, UntagResource, DisconnectUser)
 * have `returnType = Object`; ApiClient.deserialize falls back to the raw text when the parsed
 * body is an empty object, so the caller gets the string '{}' (quirk of the generated client).
 */
function assertEmptyOutput(data) {
  assert.equal(data, '{}');
}

const getRoom = (arn) => ok(call('getRoom', req(M.GetRoomRequest, { identifier: arn }), {}));
const getLogging = (arn) =>
  ok(call('getLoggingConfiguration', req(M.GetLoggingConfigurationRequest, { identifier: arn }), {}));
const listTags = async (arn) => (await ok(call('listTagsForResource', arn, {}))).tags;

test('Build: the client generated from the raw description loads as is, with all 17 operations', () => {
  const ops = [
    'createChatToken', 'createLoggingConfiguration', 'createRoom', 'deleteLoggingConfiguration', 'deleteMessage',
    'deleteRoom', 'disconnectUser', 'getLoggingConfiguration', 'getRoom', 'listLoggingConfigurations', 'listRooms',
    'listTagsForResource', 'sendEvent', 'tagResource', 'untagResource', 'updateLoggingConfiguration', 'updateRoom',
  ];
  const api = new M.DefaultApi(new M.ApiClient(endpoint()));
  for (const op of ops) assert.equal(typeof api[op], 'function', op);
  assert.deepEqual(Object.keys(main.apiClient.authentications), ['hmac']);
  assert.equal(main.apiClient.authentications.hmac.name, 'Authorization');
});

// ------------------------------------------------------------------------------------------
// Rooms
// ------------------------------------------------------------------------------------------

test('CreateRoom: defaults are filled in; every member is echoed', T, async (t) => {
  const res = Resources.track(t);
  const before = Date.now();
  const room = await res.room();
  assertRoom(room, M.CreateRoomResponse);
  assert.equal(room.name, '');
  assert.equal(room.maximumMessageRatePerSecond, 10);
  assert.equal(room.maximumMessageLength, 500);
  assert.deepEqual(plain(room.messageReviewHandler), { fallbackResult: 'ALLOW' });
  assert.deepEqual(room.tags, {});
  assert.deepEqual(room.loggingConfigurationIdentifiers, []);
  assertCloseTo(room.createTime, before, 15000, 'createTime');

  const cfg = await res.logging();
  const handler = { uri: lambdaArn(), fallbackResult: 'DENY' };
  const name = unique();
  const full = await res.room({
    name,
    maximumMessageRatePerSecond: 42,
    maximumMessageLength: 123,
    messageReviewHandler: handler,
    tags: { team: 'compat', empty: '' },
    loggingConfigurationIdentifiers: [cfg.arn],
  });
  assertRoom(full, M.CreateRoomResponse);
  assert.equal(full.name, name);
  assert.equal(full.maximumMessageRatePerSecond, 42);
  assert.equal(full.maximumMessageLength, 123);
  assert.deepEqual(plain(full.messageReviewHandler), handler);
  assert.deepEqual(full.tags, { team: 'compat', empty: '' });
  assert.deepEqual(full.loggingConfigurationIdentifiers, [cfg.arn]);
});

test('GetRoom: returns the room as created', T, async (t) => {
  const res = Resources.track(t);
  const room = await res.room({ name: unique(), tags: { k: 'v' }, maximumMessageLength: 77 });
  const got = await getRoom(room.arn);
  assertRoom(got, M.GetRoomResponse);
  assert.deepEqual(plain(got), plain(room));
});

test('UpdateRoom: the given members change, the others stay, updateTime moves forward', T, async (t) => {
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
  const updated = await ok(
    call('updateRoom', req(M.UpdateRoomRequest, { identifier: room.arn, maximumMessageLength: 99 }), {}),
  );
  assertRoom(updated, M.UpdateRoomResponse);
  assert.equal(updated.maximumMessageLength, 99);
  for (const k of ROOM_KEYS.filter((k) => !['maximumMessageLength', 'updateTime'].includes(k))) {
    assert.deepEqual(plain(updated)[k], plain(room)[k], k);
  }
  assert.ok(updated.updateTime > room.updateTime, 'updateTime moves forward');
  assert.deepEqual(plain(await getRoom(room.arn)), plain(updated));

  const name = unique();
  const all = await ok(
    call(
      'updateRoom',
      req(M.UpdateRoomRequest, {
        identifier: room.arn,
        name,
        maximumMessageRatePerSecond: 55,
        messageReviewHandler: { uri: '' },
        loggingConfigurationIdentifiers: [],
      }),
      {},
    ),
  );
  assert.equal(all.name, name);
  assert.equal(all.maximumMessageRatePerSecond, 55);
  assert.equal(all.messageReviewHandler?.uri ?? '', '', 'an empty uri removes the handler');
  assert.deepEqual(all.loggingConfigurationIdentifiers, []);
  assert.deepEqual(all.tags, { keep: 'me' });
});

test('DeleteRoom: 204 with no body; afterwards the room is not found', T, async (t) => {
  const res = Resources.track(t);
  const room = await res.room();
  const { data, response } = await call('deleteRoom', req(M.DeleteRoomRequest, { identifier: room.arn }), {});
  assert.equal(response.status, 204);
  assert.equal(data, null);
  assertNotFound(await failure(getRoom(room.arn), 'GetRoom after DeleteRoom'), room.id);
  assertNotFound(await failure(call('deleteRoom', { identifier: room.arn }, {})), room.id);
});

// ------------------------------------------------------------------------------------------
// ListRooms
// ------------------------------------------------------------------------------------------

test('ListRooms: filters name, messageReviewHandlerUri, loggingConfigurationIdentifier (AND)', T, async (t) => {
  const res = Resources.track(t);
  const cfg = await res.logging();
  const name = unique();
  const uri = lambdaArn();
  const both = await res.room({ name, messageReviewHandler: { uri }, tags: { a: 'b' }, loggingConfigurationIdentifiers: [cfg.arn] });
  const nameOnly = await res.room({ name });
  const uriOnly = await res.room({ messageReviewHandler: { uri } });
  const ids = (rooms) => rooms.map((r) => r.id).sort();
  assert.deepEqual(ids(await listAllRooms({ name })), ids([both, nameOnly]));
  assert.deepEqual(ids(await listAllRooms({ messageReviewHandlerUri: uri })), ids([both, uriOnly]));
  assert.deepEqual(ids(await listAllRooms({ loggingConfigurationIdentifier: cfg.arn })), ids([both]));
  assert.deepEqual(ids(await listAllRooms({ name, messageReviewHandlerUri: uri })), ids([both]));

  const page = await ok(call('listRooms', req(M.ListRoomsRequest, { name, messageReviewHandlerUri: uri }), {}));
  assert.ok(page instanceof M.ListRoomsResponse);
  assert.equal(page.nextToken, undefined);
  const [summary] = page.rooms;
  // Quirk: `rooms` is `allOf: [RoomList]` in the OpenAPI description, which the generator turns
  // into a plain Array: the items are JSON objects (times stay RFC 3339 strings), not RoomSummary.
  assert.ok(!(summary instanceof M.RoomSummary));
  assert.deepEqual(keys(summary), SUMMARY_KEYS);
  for (const k of SUMMARY_KEYS) assert.deepEqual(summary[k], plain(both)[k], k);
  assert.equal(new Date(summary.updateTime).getTime(), both.updateTime.getTime());
  assert.ok((await listAllRooms({})).some((r) => r.id === both.id), 'unfiltered listing has the room');
});

async function fiveRooms(res) {
  const name = unique();
  const created = [];
  for (let i = 0; i < 5; i++) created.push(await res.room({ name }));
  return { name, created };
}

test('ListRooms_pagination: maxResults and nextToken in the request body', T, async (t) => {
  const res = Resources.track(t);
  const { name, created } = await fiveRooms(res);
  const pages = [];
  let nextToken;
  do {
    const input = { name, maxResults: 2, ...(nextToken ? { nextToken } : {}) };
    const page = await ok(call('listRooms', req(M.ListRoomsRequest, input), {}));
    pages.push(page);
    nextToken = page.nextToken;
  } while (nextToken);
  assert.deepEqual(pages.map((p) => p.rooms.length), [2, 2, 1]);
  assert.notEqual(pages[0].nextToken, pages[1].nextToken);
  assert.equal(pages[2].nextToken, undefined, 'no token on the last page');
  const ids = pages.flatMap((p) => p.rooms.map((r) => r.id));
  assert.deepEqual([...ids].sort(), created.map((r) => r.id).sort());
  const times = pages.flatMap((p) => p.rooms.map((r) => Date.parse(r.updateTime)));
  assert.deepEqual(times, [...times].sort((a, b) => b - a), 'newest updateTime first');
  const exact = await ok(call('listRooms', req(M.ListRoomsRequest, { name, maxResults: 5 }), {}));
  assert.equal(exact.rooms.length, 5);
  assert.equal(exact.nextToken, undefined);
});

test('Pagination_query: ListRooms with the generated maxResults/nextToken query parameters (body wins)', T, async (t) => {
  const res = Resources.track(t);
  const { name, created } = await fiveRooms(res);
  const sent = main.seen;
  const ids = [];
  let nextToken;
  let pages = 0;
  do {
    // The OpenAPI description also declares them as (string) query parameters of ListRooms.
    const opts = { maxResults: '2', ...(nextToken ? { nextToken } : {}) };
    const page = await ok(call('listRooms', req(M.ListRoomsRequest, { name }), opts));
    assert.match(sent.at(-1).path, /^\/ListRooms\?maxResults=2/, 'sent in the query string');
    assert.ok(!sent.at(-1).body.includes('maxResults'), 'not in the body');
    assert.ok(page.rooms.length <= 2);
    ids.push(...page.rooms.map((r) => r.id));
    nextToken = page.nextToken;
    pages += 1;
  } while (nextToken);
  assert.equal(pages, 3);
  assert.deepEqual([...ids].sort(), created.map((r) => r.id).sort());
  // Both given: the body wins.
  const both = await ok(call('listRooms', req(M.ListRoomsRequest, { name, maxResults: 4 }), { maxResults: '1' }));
  assert.equal(both.rooms.length, 4);
});

// ------------------------------------------------------------------------------------------
// Logging configurations
// ------------------------------------------------------------------------------------------

test('CreateLoggingConfiguration: S3, CloudWatch Logs and Firehose destinations', T, async (t) => {
  const res = Resources.track(t);
  for (const destination of [S3, CWL, FIREHOSE]) {
    const name = unique();
    const cfg = await res.logging({ destinationConfiguration: destination, name, tags: { kind: Object.keys(destination)[0] } });
    assertLogging(cfg, M.CreateLoggingConfigurationResponse);
    assert.equal(cfg.state, 'ACTIVE');
    assert.equal(cfg.name, name);
    assert.deepEqual(plain(cfg.destinationConfiguration), destination);
    assert.deepEqual(cfg.tags, { kind: Object.keys(destination)[0] });
  }
  const defaults = await res.logging();
  assert.equal(defaults.name, '');
  assert.deepEqual(defaults.tags, {});
});

test('GetLoggingConfiguration: returns the configuration as created', T, async (t) => {
  const res = Resources.track(t);
  const cfg = await res.logging({ destinationConfiguration: CWL, name: unique(), tags: { a: '1' } });
  const got = await getLogging(cfg.arn);
  assertLogging(got, M.GetLoggingConfigurationResponse);
  assert.deepEqual(plain(got), plain(cfg));
});

test('UpdateLoggingConfiguration: name and destination change; createTime stays', T, async (t) => {
  const res = Resources.track(t);
  const cfg = await res.logging({ name: unique() });
  const name = unique();
  const updated = await ok(
    call('updateLoggingConfiguration', req(M.UpdateLoggingConfigurationRequest, { identifier: cfg.arn, name, destinationConfiguration: FIREHOSE }), {}),
  );
  assertLogging(updated, M.UpdateLoggingConfigurationResponse);
  assert.equal(updated.name, name);
  assert.deepEqual(plain(updated.destinationConfiguration), FIREHOSE);
  assert.equal(updated.state, 'ACTIVE');
  assert.equal(updated.createTime.getTime(), cfg.createTime.getTime());
  assert.ok(updated.updateTime > cfg.updateTime);
  assert.deepEqual(plain(await getLogging(cfg.arn)), plain(updated));
});

test('DeleteLoggingConfiguration: 204 with no body; afterwards it is not found', T, async (t) => {
  const res = Resources.track(t);
  const cfg = await res.logging();
  const { data, response } = await call(
    'deleteLoggingConfiguration', req(M.DeleteLoggingConfigurationRequest, { identifier: cfg.arn }), {},
  );
  assert.equal(response.status, 204);
  assert.equal(data, null);
  assertNotFound(await failure(getLogging(cfg.arn)), cfg.id);
  assert.ok(!(await listAllLoggings()).some((c) => c.id === cfg.id));
});

test('ListLoggingConfigurations: every configuration once, in pages of maxResults 1 (body)', T, async (t) => {
  const res = Resources.track(t);
  const made = [await res.logging({ name: unique() }), await res.logging({ destinationConfiguration: CWL, tags: { t: '1' } })];
  const all = await listAllLoggings();
  const byId = new Map(all.map((c) => [c.id, c]));
  assert.equal(byId.size, all.length, 'a configuration was listed twice');
  for (const c of made) {
    // Plain JSON items, as for ListRooms (the list is an `allOf` in the description).
    assert.deepEqual(byId.get(c.id), plain(c));
  }
  assert.deepEqual((await pagedLoggingIds('body')).sort(), [...byId.keys()].sort());
});

test('Pagination_query: ListLoggingConfigurations with the generated maxResults/nextToken query parameters', T, async (t) => {
  const res = Resources.track(t);
  await res.logging();
  await res.logging();
  const all = (await listAllLoggings()).map((c) => c.id);
  assert.deepEqual((await pagedLoggingIds('query')).sort(), all.sort());
  assert.match(main.seen.at(-1).path, /^\/ListLoggingConfigurations\?maxResults=1&nextToken=/);
});

/** Every configuration id, one per page, with maxResults/nextToken in the body or the query. */
async function pagedLoggingIds(where) {
  const seen = [];
  let nextToken;
  do {
    const more = nextToken ? { nextToken } : {};
    const page =
      where === 'body'
        ? await ok(call('listLoggingConfigurations', req(M.ListLoggingConfigurationsRequest, { maxResults: 1, ...more }), {}))
        : await ok(call('listLoggingConfigurations', req(M.ListLoggingConfigurationsRequest, {}), { maxResults: '1', ...more }));
    assert.ok(page.loggingConfigurations.length <= 1, where);
    seen.push(...page.loggingConfigurations.map((c) => c.id));
    nextToken = page.nextToken;
  } while (nextToken);
  return seen;
}

// ------------------------------------------------------------------------------------------
// Tags
// ------------------------------------------------------------------------------------------

test('TagResource: adds and overwrites tags on room and logging-configuration ARNs', T, async (t) => {
  const res = Resources.track(t);
  const room = await res.room({ tags: { created: 'yes' } });
  const cfg = await res.logging({ tags: { created: 'yes' } });
  for (const arn of [room.arn, cfg.arn]) {
    const data = await ok(call('tagResource', arn, req(M.TagResourceRequest, { tags: { a: '1', b: '2' } }), {}));
    assertEmptyOutput(data);
    await ok(call('tagResource', arn, req(M.TagResourceRequest, { tags: { a: 'one', 'k/with:odd chars': 'v=1&2' } }), {}));
    assert.deepEqual(await listTags(arn), { created: 'yes', a: 'one', b: '2', 'k/with:odd chars': 'v=1&2' });
  }
  assert.deepEqual((await getRoom(room.arn)).tags, { created: 'yes', a: 'one', b: '2', 'k/with:odd chars': 'v=1&2' });
  assertNotFound(await failure(call('tagResource', unknownRoomArn(), { tags: { a: 'b' } }, {})));
});

test('ListTagsForResource: tags of a room and of a logging configuration', T, async (t) => {
  const res = Resources.track(t);
  const room = await res.room({ tags: { x: '1', y: '' } });
  const cfg = await res.logging();
  const listed = await ok(call('listTagsForResource', room.arn, {}));
  assert.ok(listed instanceof M.ListTagsForResourceResponse);
  assert.deepEqual(listed.tags, { x: '1', y: '' });
  assert.deepEqual(await listTags(cfg.arn), {});
  const unknown = unknownLoggingArn();
  assertNotFound(await failure(call('listTagsForResource', unknown, {})), tail(unknown));
});

test('UntagResource_asGenerated: the keys go into the #tagKeys URL fragment and never reach the server', T, async (t) => {
  const res = Resources.track(t);
  const room = await res.room({ tags: { a: '1', b: '2' } });
  const err = await failure(call('untagResource', room.arn, ['a'], {}), 'untagResource');
  const sent = main.seen.at(-1);
  assert.equal(sent.method, 'DELETE');
  assert.equal(sent.path, `/tags/${encodeURIComponent(room.arn)}`, 'no query string was sent');
  assertValidation(err, 'tagKeys');
  assert.deepEqual(await listTags(room.arn), { a: '1', b: '2' }, 'nothing was removed');
});

test('UntagResource_workaround: works with a one-line superagent plugin that drops "#tagKeys" from the URL', T, async (t) => {
  const fixed = makeApi({ untagWorkaround: true });
  const res = Resources.track(t, fixed);
  const room = await res.room({ tags: { a: '1', b: '2', 'c d&e=f': '3' } });
  const data = await ok(fixed.call('untagResource', room.arn, ['a', 'c d&e=f', 'not-there'], {}));
  assertEmptyOutput(data);
  assert.match(fixed.seen.at(-1).path, /\?tagKeys=a&tagKeys=c%20d%26e%3Df&tagKeys=not-there$/);
  assert.deepEqual(await listTags(room.arn), { b: '2' });
  const unknown = unknownRoomArn();
  assertNotFound(await failure(fixed.call('untagResource', unknown, ['a'], {})), tail(unknown));
});

// ------------------------------------------------------------------------------------------
// Chat token and messaging operations
// ------------------------------------------------------------------------------------------

test('CreateChatToken: token and expiry times; every member', T, async (t) => {
  const res = Resources.track(t);
  const room = await res.room();
  const before = Date.now();
  const tok = await ok(call('createChatToken', new M.CreateChatTokenRequest(room.arn, 'user-1'), {}));
  assert.ok(tok instanceof M.CreateChatTokenResponse);
  assert.deepEqual(keys(tok), ['sessionExpirationTime', 'token', 'tokenExpirationTime']);
  assert.match(tok.token, TOKEN_RE);
  assertCloseTo(tok.tokenExpirationTime, before + 60_000, 10_000, 'tokenExpirationTime');
  assertCloseTo(tok.sessionExpirationTime, before + 60 * 60_000, 10_000, 'sessionExpirationTime');
  const full = await ok(
    call(
      'createChatToken',
      req(M.CreateChatTokenRequest, {
        roomIdentifier: room.arn,
        userId: 'ünïcode ✓',
        capabilities: ['SEND_MESSAGE', 'DELETE_MESSAGE', 'DISCONNECT_USER'],
        sessionDurationInMinutes: 5,
        attributes: { displayName: 'Zoë' },
      }),
      {},
    ),
  );
  assert.match(full.token, TOKEN_RE);
  assert.notEqual(full.token, tok.token);
  assertCloseTo(full.sessionExpirationTime, before + 5 * 60_000, 10_000, 'sessionExpirationTime (5 min)');
  assertValidation(
    await failure(call('createChatToken', req(M.CreateChatTokenRequest, { roomIdentifier: room.arn, userId: 'u', sessionDurationInMinutes: 181 }), {})),
    'sessionDurationInMinutes',
  );
});

test('SendEvent: returns the event id', T, async (t) => {
  const res = Resources.track(t);
  const room = await res.room();
  const ev = await ok(call('sendEvent', req(M.SendEventRequest, { roomIdentifier: room.arn, eventName: 'app:hello', attributes: { k: 'v' } }), {}));
  assert.ok(ev instanceof M.SendEventResponse);
  assert.deepEqual(keys(ev), ['id']);
  assert.match(ev.id, ID_RE);
  const unknown = unknownRoomArn();
  assertNotFound(await failure(call('sendEvent', { roomIdentifier: unknown, eventName: 'e' }, {})), tail(unknown));
});

test('DeleteMessage: returns a new id', T, async (t) => {
  const res = Resources.track(t);
  const room = await res.room();
  const ev = await ok(call('sendEvent', { roomIdentifier: room.arn, eventName: 'x' }, {}));
  const del = await ok(call('deleteMessage', req(M.DeleteMessageRequest, { roomIdentifier: room.arn, id: ev.id, reason: 'spam' }), {}));
  assert.ok(del instanceof M.DeleteMessageResponse);
  assert.deepEqual(keys(del), ['id']);
  assert.match(del.id, ID_RE);
  assert.notEqual(del.id, ev.id);
  assertValidation(await failure(call('deleteMessage', { roomIdentifier: room.arn, id: 'short' }, {})), 'id');
});

test('DisconnectUser: 200 with an empty structure', T, async (t) => {
  const res = Resources.track(t);
  const room = await res.room();
  const data = await ok(call('disconnectUser', req(M.DisconnectUserRequest, { roomIdentifier: room.arn, userId: 'nobody', reason: 'bye' }), {}));
  assertEmptyOutput(data);
  const unknown = unknownRoomArn();
  assertNotFound(await failure(call('disconnectUser', { roomIdentifier: unknown, userId: 'u' }, {})), tail(unknown));
});

// ------------------------------------------------------------------------------------------
// Errors: no typed errors in this client (it knows only the made-up 48x codes); every error is
// superagent's, and the type must be recoverable from the status, X-Amzn-Errortype and body.
// ------------------------------------------------------------------------------------------

test('ValidationException: 400, X-Amzn-Errortype, reason and fieldList', T, async (t) => {
  const res = Resources.track(t);
  const err = await failure(res.room({ name: 'bad name!', maximumMessageRatePerSecond: 101, maximumMessageLength: 0 }));
  assertValidation(err, 'name', 'maximumMessageRatePerSecond', 'maximumMessageLength');
  assertValidation(await failure(getRoom(randomBareId())), 'identifier');
});

const randomBareId = () => 'ABCDEFabcdef';

test('ResourceNotFoundException: 404, X-Amzn-Errortype, resourceId and resourceType', T, async () => {
  const arn = unknownRoomArn();
  assertNotFound(await failure(getRoom(arn)), tail(arn));
  assertNotFound(await failure(call('updateRoom', { identifier: arn, name: 'x' }, {})), tail(arn));
  assertNotFound(await failure(call('createChatToken', { roomIdentifier: arn, userId: 'u' }, {})), tail(arn));
  const cfg = unknownLoggingArn();
  assertNotFound(await failure(getLogging(cfg)), tail(cfg));
});

test('ConflictException: 409 deleting a logging configuration a room uses', T, async (t) => {
  const res = Resources.track(t);
  const cfg = await res.logging();
  const room = await res.room({ loggingConfigurationIdentifiers: [cfg.arn] });
  const err = await failure(call('deleteLoggingConfiguration', { identifier: cfg.arn }, {}));
  assertError(err, 'ConflictException', 409);
  assert.equal(err.body.resourceType, 'ROOM');
  assert.match(err.body.resourceId ?? '', ID_RE);
  await getLogging(cfg.arn); // still there
  await ok(call('updateRoom', { identifier: room.arn, loggingConfigurationIdentifiers: [] }, {}));
  await ok(call('deleteLoggingConfiguration', { identifier: cfg.arn }, {}), 204);
});

test('ServiceQuotaExceededException: 402 at 10 logging configurations', T, async (t) => {
  const QUOTA = 10;
  const created = [];
  const cleanup = async () => {
    for (const arn of created.splice(0)) await call('deleteLoggingConfiguration', { identifier: arn }, {}).catch(() => {});
  };
  t.after(cleanup);
  const existing = (await listAllLoggings()).length;
  assert.ok(existing <= QUOTA, `${existing} logging configurations exist already`);
  let refusal;
  for (let i = 0; i <= QUOTA && !refusal; i++) {
    try {
      const cfg = await ok(call('createLoggingConfiguration', req(M.CreateLoggingConfigurationRequest, { destinationConfiguration: S3 }), {}));
      created.push(cfg.arn);
    } catch (err) {
      refusal = err;
    }
  }
  const total = (await listAllLoggings()).length;
  await cleanup();
  assert.ok(refusal, 'no refusal');
  const err = await failure(Promise.reject(refusal));
  assertError(err, 'ServiceQuotaExceededException', 402);
  assert.equal(err.body.limit, QUOTA);
  assert.equal(err.body.resourceType, 'ROOM');
  assert.equal(total, QUOTA);
});

const throttleUrl = process.env.IVSCHAT_THROTTLE_ENDPOINT;
test(
  'ThrottlingException: 429 above the account SendEvent rate (server with a quota of 1/s)',
  { ...T, skip: throttleUrl ? false : 'IVSCHAT_THROTTLE_ENDPOINT is not set' },
  async (t) => {
    const slow = makeApi({ url: endpoint('IVSCHAT_THROTTLE_ENDPOINT') });
    const res = Resources.track(t, slow);
    const room = await res.room();
    let refused;
    for (let i = 0; i < 5 && !refused; i++) {
      try {
        await ok(slow.call('sendEvent', { roomIdentifier: room.arn, eventName: 'burst' }, {}));
      } catch (err) {
        refused = err;
      }
    }
    assert.ok(refused, 'no request was throttled');
    const err = await failure(Promise.reject(refused));
    assertError(err, 'ThrottlingException', 429);
    assert.equal(err.body.limit, 1);
    assert.equal(err.body.resourceType, 'ROOM');
  },
);

test('AuthErrors: wrong secret, unknown key and no signature are 403 with the AWS error types', T, async () => {
  const bad = makeApi({ secretAccessKey: 'not-the-secret' });
  assertError(await failure(bad.call('listRooms', {}, {})), 'InvalidSignatureException', 403);
  assertError(await failure(bad.call('listTagsForResource', unknownRoomArn(), {})), 'InvalidSignatureException', 403);
  const unknown = makeApi({ accessKeyId: 'AKIDNOTKNOWN0000', secretAccessKey: 'x' });
  assertError(await failure(unknown.call('createRoom', {}, {})), 'UnrecognizedClientException', 403);
  const unsigned = makeApi({ sign: false });
  assertError(await failure(unsigned.call('listRooms', {}, {})), 'MissingAuthenticationTokenException', 403);
});
