// A chat peer on the official JS SDK (amazon-ivs-chat-messaging) for tests/cli/run-chat-tmux.sh:
// joins ROOM_ARN as USER, sends SEND once connected, and exits 0 once a message with content
// EXPECT arrives (1 after 30 s without it). Prints what it sees, a line each.
//
//   IVSCHAT_ENDPOINT=http://127.0.0.1:8080 node cli-peer.mjs ROOM_ARN USER SEND EXPECT
import WebSocketImpl from 'ws';
import { IvschatClient, CreateChatTokenCommand } from '@aws-sdk/client-ivschat';
import { ChatRoom, SendMessageRequest } from 'amazon-ivs-chat-messaging';

if (typeof globalThis.WebSocket === 'undefined') globalThis.WebSocket = WebSocketImpl;

const [roomArn, userId, send, expect] = process.argv.slice(2);
const endpoint = process.env.IVSCHAT_ENDPOINT.replace(/\/+$/, '');
const control = new IvschatClient({
  endpoint,
  region: process.env.AWS_REGION ?? 'us-east-1',
  credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
});
const room = new ChatRoom({
  regionOrUrl: endpoint.replace(/^http/, 'ws'),
  tokenProvider: async () => {
    const resp = await control.send(
      new CreateChatTokenCommand({ roomIdentifier: roomArn, userId, capabilities: ['SEND_MESSAGE'] }),
    );
    return { token: resp.token, sessionExpirationTime: resp.sessionExpirationTime };
  },
});
const deadline = setTimeout(() => {
  console.log(`TIMEOUT waiting for ${JSON.stringify(expect)}`);
  process.exit(1);
}, 30000);
room.addListener('connect', async () => {
  console.log('CONNECTED');
  await room.sendMessage(new SendMessageRequest(send));
  console.log('SENT');
});
room.addListener('message', (message) => {
  console.log(`MESSAGE ${message.sender.userId}: ${message.content}`);
  if (message.content === expect) {
    clearTimeout(deadline);
    room.disconnect();
    console.log('GOT');
    process.exit(0);
  }
});
room.addListener('disconnect', (reason) => console.log(`DISCONNECTED ${reason}`));
room.connect();
