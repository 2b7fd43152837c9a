// Harness for the OpenAPI Generator 7.9.0 `javascript` client of ivschat (generated at test time
// from tests/compat/openapi/ivschat-openapi.yaml by tests/compat/run-openapi.sh, default options,
// so the API takes node-style callbacks, as in the generated README).
//
// The generated client does not sign: its `hmac` security scheme is an apiKey sent as the
// `Authorization` header, and each operation takes optional `X-Amz-*` header parameters. So a
// user must compute SigV4 themselves; here that is a superagent plugin (the generated
// `ApiClient.plugins` hook) that signs each request with `aws4` at the moment it is sent, over
// exactly the method, path, query, headers and body that go on the wire.
//
// Environment (set by run-openapi.sh): OPENAPI_JS_CLIENT_DIR (the generated client),
// IVSCHAT_ENDPOINT (the server under test), IVSCHAT_THROTTLE_ENDPOINT (a second server with an
// account SendEvent quota of 1 request/s; the ThrottlingException test is skipped without it).

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import aws4 from 'aws4';

export const REGION = 'us-east-1';
export const ACCOUNT = '000000000000';

const clientDir = process.env.OPENAPI_JS_CLIENT_DIR;
if (!clientDir) throw new Error('OPENAPI_JS_CLIENT_DIR is not set (run tests/compat/run-openapi.sh)');
/** The generated module (`src/index.js`): ApiClient, DefaultApi and every model class. */
export const gen = await import(pathToFileURL(path.join(clientDir, 'src', 'index.js')).href);

export function endpoint(name = 'IVSCHAT_ENDPOINT') {
  const url = process.env[name];
  if (!url) throw new Error(`${name} is not set (run tests/compat/run-openapi.sh ENDPOINT_URL)`);
  return url.replace(/\/+$/, '');
}

export const ID_RE = /^[A-Za-z0-9]{12}$/;
export const ROOM_ARN_RE = new RegExp(`^arn:aws:ivschat:${REGION}:${ACCOUNT}:room/([A-Za-z0-9]{12})$`);
export const LOGGING_ARN_RE = new RegExp(
  `^arn:aws:ivschat:${REGION}:${ACCOUNT}:logging-configuration/([A-Za-z0-9]{12})$`,
);
export const TOKEN_RE = /^[A-Za-z0-9_-]+$/;
export const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const unique = (prefix = 'oajs') => `${prefix}-${randomUUID().replaceAll('-', '').slice(0, 16)}`;
export const randomId = () => `Zz${randomUUID().replaceAll('-', '').slice(0, 10)}`;
export const unknownRoomArn = () => `arn:aws:ivschat:${REGION}:${ACCOUNT}:room/${randomId()}`;
export const unknownLoggingArn = () =>
  `arn:aws:ivschat:${REGION}:${ACCOUNT}:logging-configuration/${randomId()}`;
export const lambdaArn = () => `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${unique('review')}`;
export const tail = (arn) => arn.split('/').pop();

// ------------------------------------------------------------------------------------------
// Signing and the UntagResource work-around (both superagent plugins)
// ------------------------------------------------------------------------------------------

/**
 * A superagent plugin that SigV4-signs the request when it is sent (superagent's `request`
 * event: the Node ClientRequest exists, nothing is written yet). Signed: host, content-type
 * (when there is a body) and x-amz-date; aws4 double-encodes the path for non-S3 services.
 * `seen` (optional) records what was sent: {method, path, headers, body}.
 */
export function sigv4Plugin({ accessKeyId = 'test', secretAccessKey = 'test', seen } = {}) {
  return (request) => {
    request.on('request', () => {
      const http = request.req;
      const data = request._data;
      // superagent serialises JSON bodies with JSON.stringify (exports.serialize).
      const body = data == null ? '' : typeof data === 'string' ? data : JSON.stringify(data);
      const headers = {};
      const contentType = http.getHeader('content-type');
      if (contentType) headers['Content-Type'] = contentType;
      const signed = aws4.sign(
        { method: http.method, host: http.getHeader('host'), path: http.path, headers, body, service: 'ivschat', region: REGION },
        { accessKeyId, secretAccessKey },
      );
      http.setHeader('X-Amz-Date', signed.headers['X-Amz-Date']);
      http.setHeader('Authorization', signed.headers.Authorization);
      seen?.push({ method: http.method, path: http.path, body });
    });
  };
}

/**
 * The one-line work-around for the UntagResource path `/tags/{resourceArn}#tagKeys` of the
 * OpenAPI description: without it superagent appends `?tagKeys=…` after `#tagKeys`, so the keys
 * travel in the URL fragment, which is never sent. Runs when the request is created, before
 * the query string is added.
 */
export const untagFragmentPlugin = (request) => {
  request.url = request.url.replace(/#tagKeys$/, '');
};

// ------------------------------------------------------------------------------------------
// Clients
// ------------------------------------------------------------------------------------------

/**
 * A generated DefaultApi for the server under test, with promise wrappers of its callback API.
 * `untagWorkaround`: install untagFragmentPlugin. `sign: false`: no signature at all.
 */
export function makeApi({ url = endpoint(), accessKeyId, secretAccessKey, untagWorkaround = false, sign = true } = {}) {
  const apiClient = new gen.ApiClient(url);
  const seen = [];
  apiClient.plugins = [
    ...(untagWorkaround ? [untagFragmentPlugin] : []),
    ...(sign ? [sigv4Plugin({ accessKeyId, secretAccessKey, seen })] : []),
  ];
  const api = new gen.DefaultApi(apiClient);
  /** Calls `api[op](...args, opts?, callback)`; resolves {data, response}, rejects the superagent error. */
  const call = (op, ...args) =>
    new Promise((resolve, reject) => {
      api[op](...args, (error, data, response) => (error ? reject(error) : resolve({ data, response })));
    });
  return { apiClient, api, call, seen };
}

export const main = makeApi();
export const call = main.call;

/** Resolves the response data of a call that must succeed with `status`; checks the request id. */
export async function ok(promise, status = 200) {
  const { data, response } = await promise;
  assert.equal(response.status, status, `HTTP status ${response.status}`);
  assert.match(response.headers['x-amzn-requestid'] ?? '', UUID_RE, 'x-amzn-RequestId');
  return data;
}

/**
 * A call that must fail. The generated client has no typed errors for real status codes (its
 * OpenAPI responses are the made-up 480…48x); the error is superagent's: `status`, and
 * `response` with the headers and the parsed JSON body. Returns
 * {status, type (from X-Amzn-Errortype), body, error}.
 */
export async function failure(promise, what = 'call') {
  let outcome;
  try {
    outcome = await promise;
  } catch (error) {
    assert.ok(error?.response, `${what}: not an HTTP error: ${error}`);
    return {
      status: error.status,
      type: error.response.headers['x-amzn-errortype'],
      requestId: error.response.headers['x-amzn-requestid'],
      body: error.response.body,
      error,
    };
  }
  assert.fail(`${what}: expected an error, got ${JSON.stringify(outcome?.data)}`);
}

/** The error type is recoverable: status, X-Amzn-Errortype, JSON body with a message. */
export function assertError(err, type, status) {
  assert.equal(err.status, status, `status of ${type}: ${JSON.stringify(err.body)}`);
  assert.equal(err.type, type, `X-Amzn-Errortype (${JSON.stringify(err.body)})`);
  assert.equal(err.error.status, status);
  assert.ok(err.body && typeof err.body === 'object', 'a JSON error body');
  assert.equal(typeof err.body.message, 'string');
  assert.ok(err.body.message.length > 0, 'empty message');
  assert.match(err.requestId ?? '', UUID_RE, 'x-amzn-RequestId on the error');
}

export function assertValidation(err, ...fields) {
  assertError(err, 'ValidationException', 400);
  assert.equal(err.body.reason, 'FIELD_VALIDATION_FAILED');
  const list = err.body.fieldList;
  assert.ok(Array.isArray(list) && list.length > 0, `fieldList: ${JSON.stringify(list)}`);
  for (const entry of list) assert.deepEqual(Object.keys(entry).sort(), ['message', 'name']);
  const names = list.map((e) => e.name);
  for (const f of fields) assert.ok(names.some((n) => n.includes(f)), `${f} not in ${JSON.stringify(names)}`);
}

export function assertNotFound(err, resourceId) {
  assertError(err, 'ResourceNotFoundException', 404);
  assert.equal(err.body.resourceType, 'ROOM');
  assert.match(err.body.resourceId ?? '', ID_RE);
  if (resourceId) assert.equal(err.body.resourceId, resourceId);
}

/** A model instance as plain JSON (Dates become strings): for comparing different model classes. */
export const plain = (model) => JSON.parse(JSON.stringify(model));

export function assertCloseTo(value, expectedMs, toleranceMs = 15000, what = 'time') {
  assert.ok(value instanceof Date, `${what} is not a Date: ${value}`);
  assert.ok(!Number.isNaN(value.getTime()), `${what} is an invalid Date`);
  const delta = Math.abs(value.getTime() - expectedMs);
  assert.ok(delta <= toleranceMs, `${what} ${value.toISOString()} is ${delta} ms away`);
}

// ------------------------------------------------------------------------------------------
// Resources (deleted after each test, rooms first)
// ------------------------------------------------------------------------------------------

const S3 = { s3: { bucketName: 'oajs-compat-bucket' } };

export class Resources {
  constructor(c = main) {
    this.c = c;
    this.rooms = [];
    this.loggings = [];
  }

  static track(t, c = main) {
    const res = new Resources(c);
    t.after(() => res.cleanup());
    return res;
  }

  async room(input = {}) {
    const room = await ok(this.c.call('createRoom', gen.CreateRoomRequest.constructFromObject(input), {}));
    this.rooms.push(room.arn);
    return room;
  }

  async logging(input = {}) {
    const req = gen.CreateLoggingConfigurationRequest.constructFromObject({ destinationConfiguration: S3, ...input });
    const cfg = await ok(this.c.call('createLoggingConfiguration', req, {}));
    this.loggings.push(cfg.arn);
    return cfg;
  }

  async cleanup() {
    const problems = [];
    for (const arn of this.rooms.splice(0).reverse()) {
      await this.c.call('deleteRoom', { identifier: arn }, {}).catch((e) => {
        if (e.status !== 404) problems.push(`${arn}: ${e.status}`);
      });
    }
    for (const arn of this.loggings.splice(0).reverse()) {
      await this.c.call('deleteLoggingConfiguration', { identifier: arn }, {}).catch((e) => {
        if (e.status !== 404) problems.push(`${arn}: ${e.status}`);
      });
    }
    if (problems.length) throw new Error(`cleanup failed: ${problems.join(', ')}`);
  }
}

/** Every room matching `filters`, following nextToken in the request body. */
export async function listAllRooms(filters = {}, c = main) {
  const out = [];
  const tokens = new Set();
  let nextToken;
  do {
    const input = nextToken ? { ...filters, nextToken } : { ...filters };
    const page = await ok(c.call('listRooms', gen.ListRoomsRequest.constructFromObject(input), {}));
    out.push(...page.rooms);
    nextToken = page.nextToken;
    if (nextToken !== undefined) {
      assert.ok(nextToken, 'nextToken is omitted, not empty, on the last page');
      assert.ok(!tokens.has(nextToken), 'a nextToken came back twice');
      tokens.add(nextToken);
    }
  } while (nextToken);
  return out;
}

export async function listAllLoggings(c = main) {
  const out = [];
  let nextToken;
  do {
    const input = nextToken ? { nextToken } : {};
    const page = await ok(c.call('listLoggingConfigurations', gen.ListLoggingConfigurationsRequest.constructFromObject(input), {}));
    out.push(...page.loggingConfigurations);
    nextToken = page.nextToken;
  } while (nextToken);
  return out;
}
