// @aws-sdk/client-ivschat and amazon-ivs-chat-messaging over https:// and wss://. This file
// starts its own ivschat-server (binary: IVSCHAT_SERVER_BIN, else
// $CARGO_TARGET_DIR/debug/ivschat-server, else ~/.cache/ivschat-server/target/debug/…) with
// `--tls-cert`/`--tls-key` and a CA the test makes with the `openssl` command, and runs
// tls-client.mjs in a Node process trusting that CA through NODE_EXTRA_CA_CERTS, the way a
// user of the SDKs would (Node reads it only at start-up, hence the process of its own).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, rmSync, accessSync, constants } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, homedir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
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

/** A CA and a server certificate it signs for localhost and 127.0.0.1 (PEM files in `dir`). */
function makePki(dir) {
  const file = (name) => path.join(dir, name);
  const openssl = (...args) => execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl('req', '-x509', ...ec, '-keyout', file('ca.key'), '-out', file('ca.pem'), '-days', '1',
    '-subj', '/CN=ivschat node compat CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  openssl('req', ...ec, '-keyout', file('key.pem'), '-out', file('leaf.csr'), '-subj', '/CN=localhost');
  writeFileSync(file('leaf.ext'),
    'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n');
  openssl('x509', '-req', '-in', file('leaf.csr'), '-CA', file('ca.pem'), '-CAkey', file('ca.key'),
    '-CAcreateserial', '-out', file('leaf.pem'), '-days', '1', '-extfile', file('leaf.ext'));
  // The chain file: the server's certificate, then the CA's (as an intermediate would be).
  writeFileSync(file('chain.pem'), readFileSync(file('leaf.pem'), 'utf8') + readFileSync(file('ca.pem'), 'utf8'));
  return { ca: file('ca.pem'), chain: file('chain.pem'), key: file('key.pem') };
}

let server;
let dir;
let url;
let pki;

before(async () => {
  accessSync(binary, constants.X_OK); // a clear error when the binary is missing
  dir = mkdtempSync(path.join(tmpdir(), 'ivschat-tls-'));
  pki = makePki(dir);
  const port = await freePort();
  url = `https://localhost:${port}`;
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('IVSCHAT_')));
  server = spawn(binary, ['--listen', `127.0.0.1:${port}`, '--data-dir', path.join(dir, 'data'),
    '--tls-cert', pki.chain, '--tls-key', pki.key], { env, stdio: 'ignore' });
  const ca = readFileSync(pki.ca);
  const https = await import('node:https');
  const healthy = () =>
    new Promise((resolve) => {
      https.get(`${url}/health`, { ca }, (resp) => { resp.resume(); resolve(resp.statusCode === 200); })
        .on('error', () => resolve(false));
    });
  const deadline = Date.now() + 30_000;
  while (!(await healthy())) {
    if (server.exitCode !== null) throw new Error(`ivschat-server exited with ${server.exitCode}`);
    if (Date.now() > deadline) throw new Error('ivschat-server did not answer https /health within 30 s');
    await new Promise((r) => setTimeout(r, 100));
  }
});

after(() => {
  server?.kill();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Runs tls-client.mjs against the server; resolves with { code, stdout, stderr }. */
function runClient(extraEnv) {
  return new Promise((resolve) => {
    const env = { ...process.env, IVSCHAT_ENDPOINT: url, ...extraEnv };
    delete env.NODE_EXTRA_CA_CERTS;
    Object.assign(env, extraEnv);
    const child = spawn(process.execPath, [path.join(here, 'tls-client.mjs')], { env, cwd: here });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

test('@aws-sdk/client-ivschat over https and the chat SDK over wss, trusting the CA by NODE_EXTRA_CA_CERTS', { timeout: 60_000 }, async () => {
  const run = await runClient({ NODE_EXTRA_CA_CERTS: pki.ca });
  assert.equal(run.code, 0, `tls-client.mjs failed:\n${run.stderr}\n${run.stdout}`);
  const result = JSON.parse(run.stdout.trim().split('\n').pop());
  assert.match(result.chatUrl, /^wss:\/\/localhost:\d+$/);
  assert.equal(result.sent, 'hello over wss');
  assert.equal(result.received, 'hello over wss');
});

test('without the CA the SDK refuses the server certificate', { timeout: 60_000 }, async () => {
  const run = await runClient({});
  assert.notEqual(run.code, 0, run.stdout);
  assert.match(run.stderr, /self[- ]signed|unable to (get|verify)|UNABLE_TO|certificate/i, run.stderr);
});
