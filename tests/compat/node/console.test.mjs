// The web console (`/console`, crates/server/console/) in a real browser: Debian's Chromium
// driven by playwright-core (which downloads no browser of its own), against the server under
// test, with the official chat SDK in this process as the other member of the room.
//
// tests/compat/run-console.sh runs this file; IVSCHAT_CHROMIUM names the browser
// (default /usr/bin/chromium). IVSCHAT_CONSOLE_SCREENSHOTS=DIR saves screenshots of the main
// pages there (docs/console/ holds the ones README shows).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import { SendMessageRequest } from 'amazon-ivs-chat-messaging';
import { GetRoomCommand, ListRoomsCommand } from '@aws-sdk/client-ivschat';
import { Resources, client, endpoint, unique } from './helpers.mjs';

const T = { timeout: 120_000 };
const STEP = 10_000;
const shots = process.env.IVSCHAT_CONSOLE_SCREENSHOTS;

async function screenshot(page, name) {
  if (shots) await page.screenshot({ path: `${shots}/${name}.png`, fullPage: true });
}

async function browser() {
  return chromium.launch({
    executablePath: process.env.IVSCHAT_CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    // Chromium's sandbox needs user namespaces that CI's root user may not have.
    args: ['--no-sandbox'],
  });
}

/** A page signed in as `test`/`test`; every request it makes is recorded. */
async function signedIn(b, t, { width = 1280 } = {}) {
  const page = await b.newPage({ viewport: { width, height: 900 } });
  const foreign = [];
  page.on('request', (r) => {
    const url = new URL(r.url());
    if (url.host !== new URL(endpoint()).host) foreign.push(r.url());
  });
  t.after(() => assert.deepEqual(foreign, [], 'the console only talks to its server'));
  await page.goto(`${endpoint()}/console`);
  await screenshot(page, 'sign-in');
  await page.getByLabel('Access key id').fill('test');
  await page.getByLabel('Secret access key').fill('test');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Rooms' }).waitFor({ timeout: STEP });
  return page;
}

test('the console is served from the binary, with a strict content security policy', T, async () => {
  const response = await fetch(`${endpoint()}/console`);
  assert.equal(response.status, 200);
  assert.match(response.headers.get('content-type'), /^text\/html/);
  assert.match(response.headers.get('content-security-policy'), /default-src 'none'/);
  const script = await fetch(`${endpoint()}/console/js/sigv4.js`);
  assert.match(script.headers.get('content-type'), /^text\/javascript/);
  const style = await fetch(`${endpoint()}/console/console.css`);
  assert.equal(style.status, 200);
  assert.match(style.headers.get('content-type'), /^text\/css/);
  assert.equal((await fetch(`${endpoint()}/console/nope.js`)).status, 404);
});

test('a wrong secret is refused with the AWS error name and message', T, async (t) => {
  const b = await browser();
  t.after(() => b.close());
  const page = await b.newPage();
  await page.goto(`${endpoint()}/console`);
  await page.getByLabel('Access key id').fill('test');
  await page.getByLabel('Secret access key').fill('not-the-secret');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('alert').filter({ hasText: 'InvalidSignatureException' }).waitFor({ timeout: STEP });
});

test('sign in, create a room, chat with the official SDK, delete a message, disconnect a user, edit and delete the room', T, async (t) => {
  const res = Resources.track(t);
  const b = await browser();
  t.after(() => b.close());
  const page = await signedIn(b, t);

  // Create a room from the page; the API sees it.
  const name = unique('console');
  await page.getByRole('form', { name: 'Create room' }).getByLabel('Name').fill(name);
  await page.getByRole('form', { name: 'Create room' }).getByLabel('Tags').fill('team=console');
  await page.getByRole('button', { name: 'Create room' }).click();
  await page.getByRole('heading', { name: `Room ${name}` }).waitFor({ timeout: STEP });
  const listed = await client.send(new ListRoomsCommand({ name }));
  assert.equal(listed.rooms.length, 1, 'the room the page created');
  const arn = listed.rooms[0].arn;
  res.rooms.push(arn);
  assert.deepEqual(listed.rooms[0].tags, { team: 'console' });

  // Join from the page, then a Node member with the official SDK.
  await page.getByLabel('Chat user id').fill('moderator');
  await page.getByRole('button', { name: 'Join' }).click();
  await page.getByRole('status').filter({ hasText: 'Connected as moderator' }).waitFor({ timeout: STEP });
  const viewer = await res.connect(arn, 'node-viewer', { capabilities: ['SEND_MESSAGE'] });

  // A message from the SDK appears in the page.
  const sent = await viewer.room.sendMessage(new SendMessageRequest('hello from node'));
  const line = page.locator(`[data-message-id="${sent.id}"]`);
  await line.filter({ hasText: 'hello from node' }).waitFor({ timeout: STEP });

  // A message from the page reaches the SDK.
  await page.getByLabel('Message', { exact: true }).fill('hello from the console');
  await page.getByRole('button', { name: 'Send', exact: true }).click();
  const fromPage = await viewer.rec.next('message', (m) => m.content === 'hello from the console', 'message from the page');
  assert.equal(fromPage.sender.userId, 'moderator');
  await screenshot(page, 'live-room');

  // Delete the SDK's message from the page: the SDK is told, the page strikes it out.
  await page.getByRole('button', { name: `Delete message ${sent.id}` }).click();
  const deleted = await viewer.rec.next('messageDelete', (d) => d.messageId === sent.id, 'messageDelete');
  assert.equal(deleted.reason, 'deleted from the console');
  await page.locator(`[data-message-id="${sent.id}"].deleted`).waitFor({ timeout: STEP });

  // A custom event from the page (SendEvent through the signed API) reaches the SDK.
  await page.getByLabel('Event name').fill('app:hello');
  await page.getByRole('button', { name: 'Send event' }).click();
  await viewer.rec.next('event', (e) => e.eventName === 'app:hello', 'custom event');

  // Disconnect the SDK's user from the page.
  await page.getByLabel('User id', { exact: true }).fill('node-viewer');
  await page.getByRole('button', { name: 'Disconnect user' }).click();
  await viewer.rec.next('userDisconnect', (d) => d.userId === 'node-viewer', 'userDisconnect');
  await viewer.rec.waitFor((e) => e.name === 'disconnect', 'the SDK is disconnected');

  // Edit the room's settings.
  const settings = page.getByRole('form', { name: 'Room settings' });
  await settings.getByLabel('Name').fill(`${name}-renamed`);
  await settings.getByLabel('Maximum message length').fill('123');
  await page.getByRole('button', { name: 'Save settings' }).click();
  await page.getByRole('status').filter({ hasText: 'Saved at' }).waitFor({ timeout: STEP });
  const room = await client.send(new GetRoomCommand({ identifier: arn }));
  assert.equal(room.name, `${name}-renamed`);
  assert.equal(room.maximumMessageLength, 123);

  // Delete it (confirming the dialog); the list no longer has it.
  page.once('dialog', (d) => d.accept());
  await page.getByRole('button', { name: 'Delete room' }).click();
  await page.getByRole('heading', { name: 'Rooms' }).waitFor({ timeout: STEP });
  const after = await client.send(new ListRoomsCommand({ name: `${name}-renamed` }));
  assert.equal(after.rooms.length, 0, 'the room is gone');
});

test('logging configurations: create each destination, edit, delete', T, async (t) => {
  const b = await browser();
  t.after(() => b.close());
  const page = await signedIn(b, t);
  await page.getByRole('link', { name: 'Logging configurations' }).click();
  await page.getByRole('heading', { name: 'Logging configurations' }).waitFor({ timeout: STEP });
  const name = unique('cfg');
  const form = page.getByRole('form', { name: 'Create logging configuration' });
  await form.getByLabel('Name', { exact: true }).fill(name);
  await form.getByLabel('Destination').selectOption('cloudWatchLogs');
  await form.getByLabel('Bucket, log group or stream name').fill('/aws/ivschat/console');
  await page.getByRole('button', { name: 'Create logging configuration' }).click();
  const row = page.getByRole('row').filter({ hasText: name });
  await row.filter({ hasText: 'CloudWatch Logs group: /aws/ivschat/console' }).waitFor({ timeout: STEP });
  await screenshot(page, 'logging');
  page.once('dialog', (d) => d.accept());
  await row.getByRole('button', { name: 'Delete' }).click();
  await row.waitFor({ state: 'detached', timeout: STEP });
});

test('at phone width the rooms page needs no horizontal scrolling of the page', T, async (t) => {
  const b = await browser();
  t.after(() => b.close());
  const page = await signedIn(b, t, { width: 390 });
  await screenshot(page, 'rooms-phone');
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  assert.ok(overflow <= 0, `the page is ${overflow}px wider than a phone screen`);
  // Keyboard: a new page puts the focus on its heading; Tab goes on to its first labelled
  // control, and Shift+Tab back to the navigation.
  assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Rooms');
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement?.labels?.[0]?.textContent), 'Name');
  await page.keyboard.press('Shift+Tab');
  assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Sign out');
});
