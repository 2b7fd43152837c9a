// One room: its settings (UpdateRoom), tags, DeleteRoom, and the live view: join with a token
// minted for a console user, watch MESSAGE and EVENT frames arrive, send a message or a custom
// event, delete a message, disconnect a user.
import * as api from './api.js';
import { ChatConnection } from './chat.js';
import { alertBox, field, formatTags, guarded, h, parseTags, time } from './dom.js';
import { roomControls, roomFields, roomInput } from './rooms.js';

export async function roomPage(main, go, arn, onLeave) {
  const error = alertBox();
  main.replaceChildren(h('h1', {}, 'Room'), error);
  const room = await guarded(error, () => api.getRoom({ identifier: arn }));
  if (!room) return;

  // --- settings
  const controls = roomControls(room);
  const settingsError = alertBox();
  const saved = h('p', { role: 'status' });
  const settings = h('form', {
    class: 'card',
    'aria-label': 'Room settings',
    onsubmit: async (e) => {
      e.preventDefault();
      saved.textContent = '';
      const updated = await guarded(settingsError, () => api.updateRoom({ identifier: arn, ...roomInput(controls) }));
      if (updated) {
        title.textContent = updated.name || '(no name)';
        saved.textContent = `Saved at ${time(updated.updateTime)}.`;
      }
    },
  }, h('h2', {}, 'Settings'), roomFields(controls), settingsError, saved, h('button', {}, 'Save settings'));

  // --- tags
  const tagsText = h('textarea', { name: 'roomTags', rows: 3 }, formatTags(room.tags));
  const tagsError = alertBox();
  const tagsStatus = h('p', { role: 'status' });
  const tagsForm = h('form', {
    class: 'card',
    'aria-label': 'Tags',
    onsubmit: async (e) => {
      e.preventDefault();
      tagsStatus.textContent = '';
      await guarded(tagsError, async () => {
        const wanted = parseTags(tagsText.value);
        const current = (await api.listTagsForResource({ resourceArn: arn })).tags ?? {};
        const removed = Object.keys(current).filter((k) => !(k in wanted));
        if (removed.length) await api.untagResource({ resourceArn: arn, tagKeys: removed });
        if (Object.keys(wanted).length) await api.tagResource({ resourceArn: arn, tags: wanted });
        tagsStatus.textContent = 'Tags saved.';
      });
    },
  }, h('h2', {}, 'Tags'), field('Tags (key=value, one per line)', tagsText), tagsError, tagsStatus, h('button', {}, 'Save tags'));

  // --- delete
  const deleteError = alertBox();
  const remove = h('button', {
    type: 'button',
    class: 'danger',
    onclick: async () => {
      if (!confirm(`Delete room ${room.name || room.id}? Its connections are closed.`)) return;
      const done = await guarded(deleteError, () => api.deleteRoom({ identifier: arn }).then(() => true));
      if (done) go('#/rooms');
    },
  }, 'Delete room');

  const title = h('span', {}, room.name || '(no name)');
  main.replaceChildren(
    h('p', {}, h('a', { href: '#/rooms' }, '← Rooms')),
    h('h1', {}, 'Room ', title),
    h('dl', { class: 'facts' },
      h('dt', {}, 'ARN'), h('dd', {}, h('code', {}, room.arn)),
      h('dt', {}, 'Created'), h('dd', {}, time(room.createTime))),
    liveView(arn, onLeave),
    settings,
    tagsForm,
    h('section', { class: 'card', 'aria-label': 'Delete' }, h('h2', {}, 'Delete'), deleteError, remove));
}

/** The live view: join form, frame list, and the moderation controls. */
function liveView(arn, onLeave) {
  const error = alertBox();
  const status = h('p', { role: 'status' }, 'Not connected.');
  const log = h('ol', { class: 'frames', 'aria-label': 'Messages and events', 'aria-live': 'polite' });
  const user = h('input', { name: 'chatUser', value: 'console-' + (api.currentUser()?.accessKeyId ?? 'user') });
  const caps = ['SEND_MESSAGE', 'DELETE_MESSAGE', 'DISCONNECT_USER'].map((c) => h('input', { type: 'checkbox', name: c, checked: true }));
  let connection = null;

  const message = h('input', { name: 'message', maxlength: 500 });
  const eventName = h('input', { name: 'eventName', value: 'app:notice' });
  const kickUser = h('input', { name: 'kickUser' });
  const controls = h('div', { hidden: true },
    h('form', {
      'aria-label': 'Send a message',
      onsubmit: (e) => {
        e.preventDefault();
        if (message.value) connection.sendMessage(message.value);
        message.value = '';
      },
    }, field('Message', message), h('button', {}, 'Send')),
    h('form', {
      'aria-label': 'Send an event',
      onsubmit: async (e) => {
        e.preventDefault();
        await guarded(error, () => api.sendEvent({ roomIdentifier: arn, eventName: eventName.value }));
      },
    }, field('Event name', eventName), h('button', {}, 'Send event')),
    h('form', {
      'aria-label': 'Disconnect a user',
      onsubmit: (e) => {
        e.preventDefault();
        if (kickUser.value) connection.disconnectUser(kickUser.value, 'disconnected from the console');
      },
    }, field('User id', kickUser), h('button', { class: 'danger' }, 'Disconnect user')));

  const leave = () => {
    connection?.close();
    connection = null;
  };
  onLeave(leave);

  function show(frame) {
    if (frame.Type === 'EVENT' && frame.EventName === 'aws:DELETE_MESSAGE') {
      const gone = log.querySelector(`[data-message-id="${CSS.escape(frame.Attributes?.MessageID ?? '')}"]`);
      gone?.classList.add('deleted');
      gone?.querySelector('button')?.remove();
    }
    if (frame.Type === 'ERROR') {
      error.textContent = `${frame.ErrorCode}: ${frame.ErrorMessage}`;
      return;
    }
    const who = frame.Sender?.UserId ?? 'server';
    const item = h('li', { 'data-message-id': frame.Type === 'MESSAGE' ? frame.Id : undefined, class: frame.Type.toLowerCase() },
      h('time', { datetime: frame.SendTime }, new Date(frame.SendTime).toLocaleTimeString()), ' ',
      h('strong', {}, who), ' ',
      frame.Type === 'MESSAGE' ? h('span', { class: 'content' }, frame.Content)
        : h('span', { class: 'event' }, frame.EventName, ' ', JSON.stringify(frame.Attributes ?? {})));
    if (frame.Type === 'MESSAGE') {
      item.append(' ', h('button', {
        type: 'button',
        class: 'small',
        'aria-label': `Delete message ${frame.Id}`,
        onclick: () => connection?.deleteMessage(frame.Id, 'deleted from the console'),
      }, 'Delete'));
    }
    log.append(item);
    item.scrollIntoView({ block: 'nearest' });
  }

  const join = h('form', {
    'aria-label': 'Join the room',
    onsubmit: async (e) => {
      e.preventDefault();
      leave();
      const capabilities = caps.filter((c) => c.checked).map((c) => c.name);
      const minted = await guarded(error, () => api.createChatToken({ roomIdentifier: arn, userId: user.value, capabilities }));
      if (!minted) return;
      status.textContent = 'Connecting…';
      connection = new ChatConnection(minted.token, {
        onOpen: () => {
          status.textContent = `Connected as ${user.value}.`;
          controls.hidden = false;
        },
        onFrame: show,
        onClose: (code, reason) => {
          status.textContent = `Disconnected (${code}${reason ? ': ' + reason : ''}).`;
          controls.hidden = true;
        },
      });
    },
  }, field('Chat user id', user), h('fieldset', {}, h('legend', {}, 'Capabilities'),
    caps.map((c) => h('label', { class: 'check' }, c, ' ', c.name))), h('button', {}, 'Join'));

  return h('section', { class: 'card live', 'aria-label': 'Live chat' }, h('h2', {}, 'Live chat'), join, status, error, log, controls);
}
