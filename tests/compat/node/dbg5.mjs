import WebSocket from 'ws';
import { CreateChatTokenCommand, DeleteRoomCommand, CreateRoomCommand } from '@aws-sdk/client-ivschat';
import { Resources, client, chatUrl } from './helpers.mjs';
const res = new Resources();
const open = (t) => new Promise((r, j) => { const w = new WebSocket(chatUrl(), t); w.on('open', () => r(w)); w.on('error', j); });
const tok = async (arn, u, caps=[]) => (await client.send(new CreateChatTokenCommand({ roomIdentifier: arn, userId: u, capabilities: caps }))).token;
let stay = 0; const N = 40;
const { arn } = await res.room({ maximumMessageRatePerSecond: 100 });
for (let i = 0; i < N; i++) {
  const mod = await open(await tok(arn, 'mod' + i, ['DISCONNECT_USER']));
  const vt = await tok(arn, 'victim' + i);
  const v = await open(vt);
  let closed = false; v.on('close', () => (closed = true));
  const rid = 'k' + i;
  const done = new Promise(r => mod.on('message', (d) => { if (JSON.parse(d).RequestId === rid) r(); }));
  mod.send(JSON.stringify({ Action: 'DISCONNECT_USER', RequestId: rid, UserId: 'victim' + i, Reason: 'x' }));
  await done; await new Promise(r => setTimeout(r, 300));
  if (!closed) stay++;
  mod.close(); v.close();
}
console.log(`kick right after open: victim still connected in ${stay} of ${N}`);
// room deletion right after open
let alive = 0;
for (let i = 0; i < 20; i++) {
  const r = await client.send(new CreateRoomCommand({}));
  const t = await tok(r.arn, 'u');
  const w = await open(t);
  let closed = false; w.on('close', () => (closed = true));
  await client.send(new DeleteRoomCommand({ identifier: r.arn }));
  await new Promise(r => setTimeout(r, 300));
  if (!closed) alive++;
  w.close();
}
console.log(`DeleteRoom right after open: still connected in ${alive} of 20`);
await res.cleanup(); process.exit(0);
