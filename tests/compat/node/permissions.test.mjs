// IAM policies per user through @aws-sdk/client-ivschat (README "Credentials and
// permissions"): a token-minting key limited to rooms tagged app=web, a read-only key, an
// explicit Deny overriding a wildcard Allow, NotAction, request- and resource-tag conditions,
// the TagResource action that creating with tags also needs, and two accounts that cannot see
// each other's resources (README "Several accounts").
//
// This file starts its own ivschat-server (binary: IVSCHAT_SERVER_BIN, else
// $CARGO_TARGET_DIR/debug/ivschat-server, else ~/.cache/ivschat-server/target/debug/…) with a
// configuration of one full-access [[credentials]] key and several [[users]], and stops it
// afterwards.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync, accessSync, constants } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, homedir } from 'node:os';
import path from 'node:path';
import {
  AccessDeniedException,
  CreateChatTokenCommand,
  CreateLoggingConfigurationCommand,
  CreateRoomCommand,
  DeleteLoggingConfigurationCommand,
  DeleteRoomCommand,
  DisconnectUserCommand,
  GetLoggingConfigurationCommand,
  GetRoomCommand,
  ListLoggingConfigurationsCommand,
  ListRoomsCommand,
  ListTagsForResourceCommand,
  ResourceNotFoundException,
  SendEventCommand,
  TagResourceCommand,
  UntagResourceCommand,
  UpdateLoggingConfigurationCommand,
  UpdateRoomCommand,
} from '@aws-sdk/client-ivschat';
import { ACCOUNT, REGION, assertServiceError, makeClient } from './helpers.mjs';

const binary =
  process.env.IVSCHAT_SERVER_BIN ??
  path.join(process.env.CARGO_TARGET_DIR ?? path.join(homedir(), '.cache/ivschat-server/target'), 'debug', 'ivschat-server');

const freePort = () =>
  new Promise((resolve, reject) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });

const policy = (...statements) => JSON.stringify({ Version: '2012-10-17', Statement: statements });
const USERS = {
  'app-backend': ['minter', policy({
    Effect: 'Allow', Action: 'ivschat:CreateChatToken', Resource: 'arn:aws:ivschat:*:*:room/*',
    Condition: { StringEquals: { 'aws:ResourceTag/app': 'web' } },
  })],
  auditor: ['reader', policy({ Effect: 'Allow', Action: ['ivschat:Get*', 'ivschat:List*'], Resource: '*' })],
  operator: ['operator', policy(
    { Effect: 'Allow', Action: 'ivschat:*', Resource: '*' },
    { Effect: 'Deny', Action: 'ivschat:DeleteRoom', Resource: '*' },
  )],
  careful: ['careful', policy({ Effect: 'Allow', NotAction: ['ivschat:Delete*', 'ivschat:Update*'], Resource: '*' })],
  creator: ['creator', policy({ Effect: 'Allow', Action: 'ivschat:CreateRoom', Resource: '*' })],
  'web-team': ['webteam', policy(
    {
      Effect: 'Allow', Action: ['ivschat:CreateRoom', 'ivschat:TagResource'], Resource: '*',
      Condition: { StringEquals: { 'aws:RequestTag/app': 'web' } },
    },
    {
      Effect: 'Allow', Action: 'ivschat:UpdateRoom', Resource: '*',
      Condition: { StringEquals: { 'aws:ResourceTag/app': 'web' } },
    },
  )],
};

// Users of two other accounts than the server's, with full access in their own.
const ACCOUNT_A = '111111111111';
const ACCOUNT_B = '222222222222';
const TENANTS = {
  'tenant-a': ['tenant-a', ACCOUNT_A],
  'tenant-b': ['tenant-b', ACCOUNT_B],
};
const EVERYTHING = policy({ Effect: 'Allow', Action: 'ivschat:*', Resource: '*' });

function configText() {
  const lines = ['[[credentials]]', 'access_key_id = "admin"', 'secret_access_key = "admin-secret"', ''];
  const user = (name, key, doc, account) => {
    // A JSON string literal is a valid TOML basic string.
    lines.push('[[users]]', `name = ${JSON.stringify(name)}`,
      ...(account ? [`account_id = "${account}"`] : []),
      `access_keys = [{ access_key_id = "${key}", secret_access_key = "${key}-secret" }]`,
      `policies = [${JSON.stringify(doc)}]`, '');
  };
  for (const [name, [key, doc]] of Object.entries(USERS)) user(name, key, doc);
  for (const [name, [key, account]] of Object.entries(TENANTS)) user(name, key, EVERYTHING, account);
  return lines.join('\n');
}

let server;
let dir;
let url;

before(async () => {
  accessSync(binary, constants.X_OK);
  dir = mkdtempSync(path.join(tmpdir(), 'ivschat-permissions-'));
  writeFileSync(path.join(dir, 'ivschat.toml'), configText());
  const port = await freePort();
  url = `http://127.0.0.1:${port}`;
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('IVSCHAT_')));
  server = spawn(binary, ['--listen', `127.0.0.1:${port}`, '--data-dir', path.join(dir, 'data'), '--config', path.join(dir, 'ivschat.toml')], {
    env,
    stdio: 'ignore',
  });
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      if ((await fetch(`${url}/health`)).ok) break;
    } catch {
      /* not up yet */
    }
    if (server.exitCode !== null) throw new Error(`ivschat-server exited with ${server.exitCode}`);
    if (Date.now() > deadline) throw new Error('ivschat-server did not answer /health within 30 s');
    await new Promise((r) => setTimeout(r, 100));
  }
});

after(() => {
  server?.kill();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function as(key) {
  const previous = process.env.IVSCHAT_ENDPOINT;
  process.env.IVSCHAT_ENDPOINT = url;
  const client = makeClient({ accessKeyId: key, secretAccessKey: `${key}-secret` });
  process.env.IVSCHAT_ENDPOINT = previous;
  return client;
}

async function denied(promise, user, action, resource, explicit = false) {
  const err = await promise.then(
    () => assert.fail(`${action} was allowed`),
    (e) => e,
  );
  assertServiceError(err, 'AccessDeniedException', 403);
  assert.ok(err instanceof AccessDeniedException);
  const why = explicit
    ? 'with an explicit deny in an identity-based policy'
    : `because no identity-based policy allows the ${action} action`;
  assert.equal(
    err.message,
    `User: arn:aws:iam::${ACCOUNT}:user/${user} is not authorized to perform: ${action} on resource: ${resource} ${why}`,
  );
}

const roomPattern = `arn:aws:ivschat:${REGION}:${ACCOUNT}:room/*`;

test('a token-minting key works only for rooms tagged app=web', async () => {
  const admin = as('admin');
  const minter = as('minter');
  const web = (await admin.send(new CreateRoomCommand({ tags: { app: 'web' } }))).arn;
  const ops = (await admin.send(new CreateRoomCommand({ tags: { app: 'ops' } }))).arn;
  const token = await minter.send(new CreateChatTokenCommand({ roomIdentifier: web, userId: 'u1' }));
  assert.ok(token.token);
  await denied(minter.send(new CreateChatTokenCommand({ roomIdentifier: ops, userId: 'u1' })), 'app-backend', 'ivschat:CreateChatToken', ops);
});

test('a read-only key reads and changes nothing', async () => {
  const admin = as('admin');
  const reader = as('reader');
  const arn = (await admin.send(new CreateRoomCommand({}))).arn;
  assert.equal((await reader.send(new GetRoomCommand({ identifier: arn }))).arn, arn);
  await reader.send(new ListRoomsCommand({}));
  await denied(reader.send(new DeleteRoomCommand({ identifier: arn })), 'auditor', 'ivschat:DeleteRoom', arn);
  await denied(reader.send(new CreateRoomCommand({})), 'auditor', 'ivschat:CreateRoom', roomPattern);
});

test('an explicit Deny overrides a wildcard Allow', async () => {
  const operator = as('operator');
  const arn = (await operator.send(new CreateRoomCommand({ tags: { app: 'web' } }))).arn;
  await operator.send(new UpdateRoomCommand({ identifier: arn, name: 'renamed' }));
  await denied(operator.send(new DeleteRoomCommand({ identifier: arn })), 'operator', 'ivschat:DeleteRoom', arn, true);
});

test('NotAction allows everything but the listed actions', async () => {
  const careful = as('careful');
  const arn = (await careful.send(new CreateRoomCommand({}))).arn;
  await careful.send(new GetRoomCommand({ identifier: arn }));
  await denied(careful.send(new UpdateRoomCommand({ identifier: arn, name: 'x' })), 'careful', 'ivschat:UpdateRoom', arn);
});

test('creating with tags also needs ivschat:TagResource', async () => {
  const creator = as('creator');
  await creator.send(new CreateRoomCommand({}));
  await denied(creator.send(new CreateRoomCommand({ tags: { app: 'web' } })), 'creator', 'ivschat:TagResource', roomPattern);
});

test('conditions on request tags and resource tags', async () => {
  const admin = as('admin');
  const team = as('webteam');
  const mine = (await team.send(new CreateRoomCommand({ tags: { app: 'web' } }))).arn;
  await denied(team.send(new CreateRoomCommand({ tags: { app: 'ops' } })), 'web-team', 'ivschat:CreateRoom', roomPattern);
  await team.send(new UpdateRoomCommand({ identifier: mine, name: 'ours' }));
  const other = (await admin.send(new CreateRoomCommand({ tags: { app: 'ops' } }))).arn;
  await denied(team.send(new UpdateRoomCommand({ identifier: other, name: 'theirs' })), 'web-team', 'ivschat:UpdateRoom', other);
});

// The same resource id, asked for in another account.
const inAccount = (arn, account) => {
  const parts = arn.split(':');
  return [...parts.slice(0, 4), account, parts.slice(5).join(':')].join(':');
};

async function notFound(promise, what, arn) {
  const err = await promise.then(
    () => assert.fail(`${what} ${arn} was found`),
    (e) => e,
  );
  assertServiceError(err, 'ResourceNotFoundException', 404);
  assert.ok(err instanceof ResourceNotFoundException);
  assert.equal(err.message, `${what} ${arn.split('/').pop()} not found`);
}

test('two accounts cannot see or reach each other\'s resources', async () => {
  const [admin, a, b] = [as('admin'), as('tenant-a'), as('tenant-b')];
  const logging = (await a.send(new CreateLoggingConfigurationCommand({
    destinationConfiguration: { s3: { bucketName: 'a-bucket' } }, tags: { team: 'a' },
  }))).arn;
  const room = await a.send(new CreateRoomCommand({ tags: { team: 'a' }, loggingConfigurationIdentifiers: [logging] }));
  assert.match(room.arn, new RegExp(`^arn:aws:ivschat:${REGION}:${ACCOUNT_A}:room/`));
  assert.match(logging, new RegExp(`^arn:aws:ivschat:${REGION}:${ACCOUNT_A}:logging-configuration/`));
  assert.deepEqual(room.loggingConfigurationIdentifiers, [logging]);
  const bRoom = (await b.send(new CreateRoomCommand({}))).arn;
  assert.match(bRoom, new RegExp(`^arn:aws:ivschat:${REGION}:${ACCOUNT_B}:room/`));

  assert.deepEqual((await a.send(new ListRoomsCommand({}))).rooms.map((r) => r.arn), [room.arn]);
  assert.deepEqual((await b.send(new ListRoomsCommand({}))).rooms.map((r) => r.arn), [bRoom]);
  const adminRooms = (await admin.send(new ListRoomsCommand({}))).rooms.map((r) => r.arn);
  assert.ok(!adminRooms.includes(room.arn) && !adminRooms.includes(bRoom));
  assert.deepEqual((await a.send(new ListLoggingConfigurationsCommand({}))).loggingConfigurations.map((c) => c.arn), [logging]);
  assert.deepEqual((await b.send(new ListLoggingConfigurationsCommand({}))).loggingConfigurations, []);

  // B, by A's ARN or by the same id in its own account: answered as for a missing room.
  for (const arn of [room.arn, inAccount(room.arn, ACCOUNT_B)]) {
    await notFound(b.send(new GetRoomCommand({ identifier: arn })), 'Room', arn);
    await notFound(b.send(new UpdateRoomCommand({ identifier: arn, name: 'x' })), 'Room', arn);
    await notFound(b.send(new DeleteRoomCommand({ identifier: arn })), 'Room', arn);
    await notFound(b.send(new CreateChatTokenCommand({ roomIdentifier: arn, userId: 'intruder' })), 'Room', arn);
    await notFound(b.send(new SendEventCommand({ roomIdentifier: arn, eventName: 'x' })), 'Room', arn);
    await notFound(b.send(new DisconnectUserCommand({ roomIdentifier: arn, userId: 'u' })), 'Room', arn);
  }
  const sameRoom = inAccount(room.arn, ACCOUNT_B);
  await notFound(b.send(new ListTagsForResourceCommand({ resourceArn: sameRoom })), 'Room', sameRoom);
  await notFound(b.send(new TagResourceCommand({ resourceArn: sameRoom, tags: { team: 'b' } })), 'Room', sameRoom);
  await notFound(b.send(new UntagResourceCommand({ resourceArn: sameRoom, tagKeys: ['team'] })), 'Room', sameRoom);
  const sameLogging = inAccount(logging, ACCOUNT_B);
  const what = 'Logging configuration';
  await notFound(b.send(new GetLoggingConfigurationCommand({ identifier: sameLogging })), what, sameLogging);
  await notFound(b.send(new UpdateLoggingConfigurationCommand({ identifier: sameLogging, name: 'x' })), what, sameLogging);
  await notFound(b.send(new DeleteLoggingConfigurationCommand({ identifier: sameLogging })), what, sameLogging);
  await notFound(b.send(new CreateRoomCommand({ loggingConfigurationIdentifiers: [sameLogging] })), what, sameLogging);

  // A's room is untouched, tags included, and A still mints tokens for it.
  assert.deepEqual((await a.send(new ListTagsForResourceCommand({ resourceArn: room.arn }))).tags, { team: 'a' });
  assert.equal((await a.send(new GetRoomCommand({ identifier: room.arn }))).name, room.name);
  assert.ok((await a.send(new CreateChatTokenCommand({ roomIdentifier: room.arn, userId: 'alice' }))).token);
});
