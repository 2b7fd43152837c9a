// ThrottlingException (429) through @aws-sdk/client-ivschat: the client-compatibility-matrix
// scenario (tests/compat/matrix/scenarios.toml) that control-plane.test.mjs leaves out.
//
// The shared server allows 100 SendEvent requests per second per account, more than a test
// should send; so this file starts its own ivschat-server (binary: IVSCHAT_SERVER_BIN, else
// $CARGO_TARGET_DIR/debug/ivschat-server, else ~/.cache/ivschat-server/target/debug/…) with
// `[quotas] send_event_per_second = 1`, and stops it afterwards.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync, accessSync, constants } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, homedir } from 'node:os';
import path from 'node:path';
import {
  CreateRoomCommand,
  DeleteRoomCommand,
  SendEventCommand,
  ThrottlingException,
} from '@aws-sdk/client-ivschat';
import { ID_RE, assertServiceError, makeClient } from './helpers.mjs';

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

let server;
let dir;
let url;

before(async () => {
  accessSync(binary, constants.X_OK); // a clear error when the binary is missing
  dir = mkdtempSync(path.join(tmpdir(), 'ivschat-throttle-'));
  writeFileSync(path.join(dir, 'ivschat.toml'), '[quotas]\nsend_event_per_second = 1\n');
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

test('ThrottlingException above the account SendEvent rate (a server with 1 request/s)', { timeout: 60_000 }, async () => {
  const previous = process.env.IVSCHAT_ENDPOINT;
  process.env.IVSCHAT_ENDPOINT = url;
  const client = makeClient(); // maxAttempts 1: the SDK would retry a throttle away
  process.env.IVSCHAT_ENDPOINT = previous;
  const room = await client.send(new CreateRoomCommand({}));
  try {
    let refusal;
    // A bucket of 1 token refilled at 1 per second: of five quick requests, one is refused.
    for (let i = 0; i < 5 && !refusal; i++) {
      try {
        const sent = await client.send(new SendEventCommand({ roomIdentifier: room.arn, eventName: 'burst' }));
        assert.match(sent.id, ID_RE);
      } catch (err) {
        refusal = err;
      }
    }
    assert.ok(refusal, 'five quick SendEvent requests, none throttled');
    assertServiceError(refusal, 'ThrottlingException', 429);
    assert.ok(refusal instanceof ThrottlingException, 'typed ThrottlingException');
    assert.equal(refusal.limit, 1);
    assert.equal(refusal.resourceType, 'ROOM');
  } finally {
    await new Promise((r) => setTimeout(r, 1100));
    await client.send(new DeleteRoomCommand({ identifier: room.arn }));
  }
});
