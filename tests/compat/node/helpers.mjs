// Shared helpers for the Node.js compatibility suite of ivschat-server.
//
// The server under test is named by IVSCHAT_ENDPOINT (e.g. http://127.0.0.1:8080); the
// chat WebSocket URL is the same with http -> ws.  tests/compat/run-node.sh sets it, with
// the AWS configuration isolated (AWS_ACCESS_KEY_ID=test, AWS_SECRET_ACCESS_KEY=test,
// AWS_REGION=us-east-1, no shared config files).
//
// Every test creates its own rooms / logging configurations and deletes them afterwards,
// so the suite can share a server with other suites.

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import WebSocketImpl from 'ws';
import {
  IvschatClient,
  CreateRoomCommand,
  DeleteRoomCommand,
  CreateChatTokenCommand,
  CreateLoggingConfigurationCommand,
  DeleteLoggingConfigurationCommand,
  ListRoomsCommand,
  ListLoggingConfigurationsCommand,
} from '@aws-sdk/client-ivschat';
import { ChatRoom } from 'amazon-ivs-chat-messaging';

// Node 20 has no global WebSocket unless started with --experimental-websocket; the chat SDK
// does `new WebSocket(url, token)` on the global.  Use `ws` only when there is none, so that a
// process started with the flag (or Node >= 22) exercises the built-in one.
export const NATIVE_WEBSOCKET = typeof globalThis.WebSocket !== 'undefined';
if (!NATIVE_WEBSOCKET) globalThis.WebSocket = WebSocketImpl;

export const REGION = process.env.AWS_REGION ?? 'us-east-1';
export const ACCOUNT = '000000000000';
export const ACCESS_KEY = process.env.AWS_ACCESS_KEY_ID ?? 'test';
export const SECRET_KEY = process.env.AWS_SECRET_ACCESS_KEY ?? 'test';

/** Per-step timeout (the chat SDK has no request timeouts; a missing frame would hang). */
export const STEP_MS = Number(process.env.IVSCHAT_STEP_TIMEOUT_MS ?? 5000);

export const ID_RE = /^[A-Za-z0-9]{12}$/;
export const ROOM_ARN_RE = new RegExp(`^arn:aws:ivschat:${REGION}:${ACCOUNT}:room/([A-Za-z0-9]{12})$`);
export const LOGGING_ARN_RE = new RegExp(
  `^arn:aws:ivschat:${REGION}:${ACCOUNT}:logging-configuration/([A-Za-z0-9]{12})$`,
);
export const TOKEN_RE = /^[A-Za-z0-9_-]+$/;
export const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function endpoint() {
  const url = process.env.IVSCHAT_ENDPOINT;
  if (!url) {
    throw new Error('IVSCHAT_ENDPOINT is not set (run tests/compat/run-node.sh ENDPOINT_URL)');
  }
  return url.replace(/\/+$/, '');
}

/** The chat WebSocket URL: the endpoint with http -> ws (https -> wss). */
export function chatUrl() {
  return endpoint().replace(/^http/, 'ws');
}

/**
 * An @aws-sdk/client-ivschat client for the server under test.  Retries are off so that every
 * error is the server's first answer.
 */
export function makeClient({ accessKeyId = ACCESS_KEY, secretAccessKey = SECRET_KEY } = {}) {
  return new IvschatClient({
    endpoint: endpoint(),
    region: REGION,
    credentials: { accessKeyId, secretAccessKey },
    maxAttempts: 1,
  });
}

export const client = makeClient();

/** A name unique to this call, valid as a room / logging-configuration name. */
export function unique(prefix = 'node') {
  return `${prefix}-${randomUUID().replaceAll('-', '').slice(0, 16)}`;
}

/** A well-formed 12-character id that no server will have handed out. */
export function randomId() {
  return `Zz${randomUUID().replaceAll('-', '').slice(0, 10)}`;
}

export const unknownRoomArn = () => `arn:aws:ivschat:${REGION}:${ACCOUNT}:room/${randomId()}`;
export const unknownLoggingArn = () =>
  `arn:aws:ivschat:${REGION}:${ACCOUNT}:logging-configuration/${randomId()}`;
export const lambdaArn = () => `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${unique('review')}`;

/** Rejects with a descriptive error when `promise` does not settle within `ms`. */
export function withTimeout(promise, what, ms = STEP_MS, context = () => '') {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => {
      const extra = context();
      reject(new Error(`timeout after ${ms} ms: ${what}${extra ? `\n${extra}` : ''}`));
    }, ms);
  });
  return Promise.race([Promise.resolve(promise).finally(() => clearTimeout(timer)), timeout]);
}

/** Awaits a promise that must reject (within the step timeout); returns the rejection value. */
export async function rejectionOf(promise, what, ms = STEP_MS) {
  const outcome = await withTimeout(
    promise.then(
      (value) => ({ ok: true, value }),
      (error) => ({ ok: false, error }),
    ),
    what,
    ms,
  );
  if (outcome.ok) {
    assert.fail(`${what}: expected a rejection, got ${JSON.stringify(outcome.value)}`);
  }
  return outcome.error;
}

/** Runs an AWS SDK call that must fail; returns the error. */
export async function awsError(promise, what = 'AWS call') {
  try {
    const value = await promise;
    assert.fail(`${what}: expected an error, got ${JSON.stringify(value)}`);
  } catch (err) {
    if (err instanceof assert.AssertionError) throw err;
    return err;
  }
}

/** Checks an AWS SDK service error's name and HTTP status. */
export function assertServiceError(err, name, status) {
  assert.equal(err?.name, name, `expected ${name}, got ${err?.name}: ${err?.message}`);
  assert.equal(err.$metadata?.httpStatusCode, status, `${name} HTTP status`);
  assert.equal(typeof err.message, 'string');
  assert.ok(err.message.length > 0, `${name} has an empty message`);
  assert.match(err.$metadata.requestId ?? '', UUID_RE, `${name} request id`);
  assert.equal(err.$fault, status >= 500 ? 'server' : 'client');
}

/** Asserts that a Date is within `toleranceMs` of `expected` (a Date or epoch ms). */
export function assertCloseTo(value, expected, toleranceMs = 15000, what = 'time') {
  assert.ok(value instanceof Date, `${what} is not a Date: ${value}`);
  assert.ok(!Number.isNaN(value.getTime()), `${what} is an invalid Date`);
  const delta = Math.abs(value.getTime() - Number(expected));
  assert.ok(
    delta <= toleranceMs,
    `${what} ${value.toISOString()} is ${delta} ms away from ${new Date(Number(expected)).toISOString()}`,
  );
}

/** Drops the SDK's `$metadata` from a response. */
export function body(resp) {
  const { $metadata, ...rest } = resp;
  return rest;
}

// ---------------------------------------------------------------------------------------
// Resource tracking
// ---------------------------------------------------------------------------------------

/**
 * Creates rooms / logging configurations for one test and deletes them afterwards (rooms
 * first, since a configuration attached to a room cannot be deleted).  Call `track(t)` at the
 * start of a test: cleanup runs in the test's `after` hook, also on failure.
 */
export class Resources {
  constructor(c = client) {
    this.client = c;
    this.rooms = [];
    this.loggings = [];
    this.chatRooms = [];
  }

  static track(t, c = client) {
    const res = new Resources(c);
    t.after(() => res.cleanup());
    return res;
  }

  async room(input = {}) {
    const resp = await this.client.send(new CreateRoomCommand(input));
    this.rooms.push(resp.arn);
    return resp;
  }

  async logging(input = {}) {
    const resp = await this.client.send(
      new CreateLoggingConfigurationCommand({
        destinationConfiguration: { s3: { bucketName: 'node-compat-bucket' } },
        ...input,
      }),
    );
    this.loggings.push(resp.arn);
    return resp;
  }

  trackLogging(arn) {
    this.loggings.push(arn);
  }

  async cleanup() {
    for (const room of this.chatRooms.splice(0)) {
      try {
        if (room.state !== 'disconnected') room.disconnect();
      } catch {
        /* already gone */
      }
    }
    const problems = [];
    for (const arn of this.rooms.splice(0).reverse()) {
      try {
        await this.client.send(new DeleteRoomCommand({ identifier: arn }));
      } catch (err) {
        if (err.name !== 'ResourceNotFoundException') problems.push(`${arn}: ${err.name}`);
      }
    }
    for (const arn of this.loggings.splice(0).reverse()) {
      try {
        await this.client.send(new DeleteLoggingConfigurationCommand({ identifier: arn }));
      } catch (err) {
        if (err.name !== 'ResourceNotFoundException') problems.push(`${arn}: ${err.name}`);
      }
    }
    if (problems.length) throw new Error(`cleanup failed: ${problems.join(', ')}`);
  }

  // -------------------------------------------------------------------------------------
  // Chat connections (official SDK)
  // -------------------------------------------------------------------------------------

  /**
   * A ChatRoom (not yet connected) for `userId` in `roomArn`, whose tokenProvider mints a
   * fresh token with @aws-sdk/client-ivschat for every connection attempt.  The token's
   * `tokenExpirationTime` is NOT passed to the SDK, so it does not rotate connections.
   * Pass `tokenProvider` to override.
   */
  chatRoom(roomArn, userId, { capabilities = [], attributes, tokenProvider, maxReconnectAttempts = 3 } = {}) {
    const minted = [];
    const provider =
      tokenProvider ??
      (async () => {
        const resp = await this.client.send(
          new CreateChatTokenCommand({ roomIdentifier: roomArn, userId, capabilities, attributes }),
        );
        minted.push(resp.token);
        return { token: resp.token, sessionExpirationTime: resp.sessionExpirationTime };
      });
    const calls = { count: 0 };
    const room = new ChatRoom({
      regionOrUrl: chatUrl(),
      maxReconnectAttempts,
      tokenProvider: async () => {
        calls.count += 1;
        return provider();
      },
    });
    const rec = new Recorder(room, userId);
    this.chatRooms.push(room);
    return { room, rec, calls, minted, userId };
  }

  /** `chatRoom(…)` + connect; resolves once the SDK reports `connect`. */
  async connect(roomArn, userId, options = {}) {
    const user = this.chatRoom(roomArn, userId, options);
    user.room.connect();
    const first = await user.rec.waitFor(
      (e) => e.name === 'connect' || e.name === 'disconnect',
      `${userId} connect`,
    );
    if (first.name !== 'connect') {
      throw new Error(`${userId} could not connect: disconnect(${first.payload})\n${user.rec.logTail()}`);
    }
    assert.equal(user.room.state, 'connected');
    return user;
  }
}

// ---------------------------------------------------------------------------------------
// Recording a ChatRoom's events
// ---------------------------------------------------------------------------------------

const ROOM_EVENTS = ['connecting', 'connect', 'disconnect', 'message', 'event', 'messageDelete', 'userDisconnect'];

/**
 * Records every event a ChatRoom emits, in order, so that tests can wait for an event that may
 * already have arrived (no listener races), and check the relative order of events.  Also
 * keeps the SDK's log lines (the SDK logs to the console by default, dumping whole objects).
 */
export class Recorder {
  constructor(room, label) {
    this.label = label;
    this.events = [];
    this.waiters = new Set();
    this.log = [];
    room.logLevel = process.env.IVSCHAT_SDK_LOG ?? 'info';
    const brief = (x) => {
      if (x instanceof Error) return x.message;
      if (x && typeof x === 'object') {
        if (x.type && x.message !== undefined) return `${x.type}: ${x.message}`; // ErrorEvent
        try {
          return JSON.stringify(x);
        } catch {
          return String(x);
        }
      }
      return String(x);
    };
    const keep = (level) => (msg, ...args) => {
      const line = `[${label} ${level}] ${msg} ${args.map(brief).join(' ')}`.slice(0, 600);
      this.log.push(line);
      if (this.log.length > 60) this.log.shift();
      if (process.env.IVSCHAT_SDK_LOG) console.error(line);
    };
    room.logger = { debug: keep('debug'), info: keep('info'), error: keep('error') };
    for (const name of ROOM_EVENTS) {
      room.addListener(name, (payload) => this.push({ name, payload, at: Date.now() }));
    }
  }

  push(event) {
    this.events.push(event);
    for (const w of [...this.waiters]) {
      if (w.pred(event)) {
        this.waiters.delete(w);
        w.resolve(event);
      }
    }
  }

  logTail(n = 15) {
    const events = this.events.map((e) => `${e.name}${typeof e.payload === 'string' ? `(${e.payload})` : ''}`);
    return `  ${this.label} events: ${events.join(', ') || '(none)'}\n  ${this.log.slice(-n).join('\n  ')}`;
  }

  /** Events so far named `name` (payloads). */
  all(name) {
    return this.events.filter((e) => e.name === name).map((e) => e.payload);
  }

  /**
   * Resolves with the first recorded event (past or future) that satisfies `pred`; `pred` is an
   * event name or a function of `{name, payload}`.  Times out after STEP_MS.
   */
  waitFor(pred, what, ms = STEP_MS) {
    const test = typeof pred === 'string' ? (e) => e.name === pred : pred;
    const found = this.events.find(test);
    if (found) return Promise.resolve(found);
    let waiter;
    const p = new Promise((resolve) => {
      waiter = { pred: test, resolve };
      this.waiters.add(waiter);
    });
    return withTimeout(p, `${this.label}: ${what}`, ms, () => this.logTail()).finally(() =>
      this.waiters.delete(waiter),
    );
  }

  /** Waits for an event named `name` whose payload satisfies `pred`; resolves with the payload. */
  async next(name, pred = () => true, what = name) {
    const e = await this.waitFor((ev) => ev.name === name && pred(ev.payload), what);
    return e.payload;
  }

  /** The index of the first event satisfying `pred`, or -1. */
  indexOf(pred) {
    return this.events.findIndex(pred);
  }
}

// ---------------------------------------------------------------------------------------
// Listing helpers (manual pagination)
// ---------------------------------------------------------------------------------------

export async function listAllRooms(input = {}, c = client) {
  const out = [];
  let nextToken;
  do {
    const page = await c.send(new ListRoomsCommand({ ...input, nextToken }));
    out.push(...page.rooms);
    nextToken = page.nextToken;
  } while (nextToken);
  return out;
}

export async function listAllLoggings(input = {}, c = client) {
  const out = [];
  let nextToken;
  do {
    const page = await c.send(new ListLoggingConfigurationsCommand({ ...input, nextToken }));
    out.push(...page.loggingConfigurations);
    nextToken = page.nextToken;
  } while (nextToken);
  return out;
}
