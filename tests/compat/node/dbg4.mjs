// raw ws repro: listener opens; immediately on 'open' an already-open sender sends SEND_MESSAGE.
import WebSocket from 'ws';
import { CreateChatTokenCommand } from '@aws-sdk/client-ivschat';
import { Resources, client, chatUrl } from './helpers.mjs';
const res = new Resources();
const { arn } = await res.room({ maximumMessageRatePerSecond: 100 });
const tok = async (u, caps=[]) => (await client.send(new CreateChatTokenCommand({ roomIdentifier: arn, userId: u, capabilities: caps }))).token;
const open = (t) => new Promise((r, j) => { const w = new WebSocket(chatUrl(), t); w.on('open', () => r(w)); w.on('error', j); });
const delay = Number(process.argv[2] ?? 0);
let miss = 0; const N = 50;
for (let i = 0; i < N; i++) {
  const sender = await open(await tok('s' + i, ['SEND_MESSAGE']));
  const lt = await tok('l' + i);
  const got = [];
  const l = await open(lt);
  l.on('message', (d) => got.push(JSON.parse(d)));
  if (delay) await new Promise(r => setTimeout(r, delay));
  const rid = 'r' + i;
  const echoed = new Promise(r => sender.on('message', (d) => { const f = JSON.parse(d); if (f.RequestId === rid) r(f); }));
  sender.send(JSON.stringify({ Action: 'SEND_MESSAGE', RequestId: rid, Content: 'x' }));
  const f = await echoed;
  await new Promise(r => setTimeout(r, 200));
  if (!got.some(g => g.Id === f.Id)) miss++;
  sender.close(); l.close();
}
console.log(`delay ${delay} ms: listener missed ${miss} of ${N}`);
await res.cleanup(); process.exit(0);
