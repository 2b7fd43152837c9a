// One live connection to a room over the chat WebSocket (docs/protocol/messaging.md): the token
// is the WebSocket subprotocol, requests are JSON envelopes with an Action and a RequestId, and
// every MESSAGE, EVENT and ERROR frame is handed to `onFrame`.

export class ChatConnection {
  /** Opens a connection with `token`; `onFrame(frame)` for each frame, `onClose(code, reason)`. */
  constructor(token, { onFrame, onOpen, onClose }) {
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    this.socket = new WebSocket(`${scheme}//${location.host}`, token);
    this.socket.addEventListener('open', () => onOpen?.());
    this.socket.addEventListener('message', (e) => {
      let frame;
      try {
        frame = JSON.parse(e.data);
      } catch {
        return; // not a frame the protocol defines
      }
      onFrame(frame);
    });
    this.socket.addEventListener('close', (e) => onClose?.(e.code, e.reason));
  }

  send(action, fields) {
    const requestId = crypto.randomUUID();
    this.socket.send(JSON.stringify({ Action: action, RequestId: requestId, ...fields }));
    return requestId;
  }

  sendMessage(content, attributes) {
    return this.send('SEND_MESSAGE', attributes ? { Content: content, Attributes: attributes } : { Content: content });
  }

  deleteMessage(id, reason) {
    return this.send('DELETE_MESSAGE', reason ? { Id: id, Reason: reason } : { Id: id });
  }

  disconnectUser(userId, reason) {
    return this.send('DISCONNECT_USER', reason ? { UserId: userId, Reason: reason } : { UserId: userId });
  }

  close() {
    this.socket.close(1000, 'left the room');
  }
}
