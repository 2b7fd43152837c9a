// The rooms page: ListRooms with its three filters and pagination, and CreateRoom with every
// member.
import * as api from './api.js';
import { alertBox, field, formatTags, guarded, h, parseTags, time } from './dom.js';

/** The room form's controls, filled from `room` when editing. */
export function roomControls(room = {}) {
  return {
    name: h('input', { name: 'name', value: room.name ?? '', maxlength: 128 }),
    rate: h('input', { name: 'maximumMessageRatePerSecond', type: 'number', min: 1, max: 100, value: room.maximumMessageRatePerSecond ?? 10 }),
    length: h('input', { name: 'maximumMessageLength', type: 'number', min: 1, max: 500, value: room.maximumMessageLength ?? 500 }),
    uri: h('input', { name: 'messageReviewHandlerUri', value: room.messageReviewHandler?.uri ?? '', placeholder: 'arn:aws:lambda:…' }),
    fallback: h('select', { name: 'fallbackResult' },
      ['ALLOW', 'DENY'].map((v) => h('option', { value: v, selected: (room.messageReviewHandler?.fallbackResult ?? 'ALLOW') === v }, v))),
    logging: h('textarea', { name: 'loggingConfigurationIdentifiers', rows: 2 }, (room.loggingConfigurationIdentifiers ?? []).join('\n')),
  };
}

export function roomFields(c) {
  return [
    field('Name', c.name),
    field('Maximum message rate per second', c.rate),
    field('Maximum message length', c.length),
    field('Review handler (Lambda ARN)', c.uri, 'Empty: no review handler.'),
    field('Fallback result', c.fallback),
    field('Logging configuration ARNs', c.logging, 'One per line (at most 3).'),
  ];
}

/** The members of CreateRoom / UpdateRoom from the form's controls. */
export function roomInput(c) {
  return {
    name: c.name.value,
    maximumMessageRatePerSecond: Number(c.rate.value),
    maximumMessageLength: Number(c.length.value),
    messageReviewHandler: { uri: c.uri.value.trim(), fallbackResult: c.fallback.value },
    loggingConfigurationIdentifiers: c.logging.value.split('\n').map((s) => s.trim()).filter(Boolean),
  };
}

export function roomsPage(main, go) {
  const error = alertBox();
  const filters = {
    name: h('input', { name: 'filterName' }),
    uri: h('input', { name: 'filterUri', placeholder: 'Lambda ARN (empty: any)' }),
    logging: h('input', { name: 'filterLogging', placeholder: 'logging configuration ARN' }),
  };
  const rows = h('tbody');
  const more = h('button', { type: 'button', hidden: true }, 'Next page');
  let nextToken;

  async function load(reset) {
    if (reset) {
      nextToken = undefined;
      rows.replaceChildren();
    }
    const input = { maxResults: 20, nextToken };
    if (filters.name.value) input.name = filters.name.value;
    if (filters.uri.value) input.messageReviewHandlerUri = filters.uri.value;
    if (filters.logging.value) input.loggingConfigurationIdentifier = filters.logging.value;
    const page = await guarded(error, () => api.listRooms(input));
    if (!page) return;
    for (const room of page.rooms) {
      rows.append(h('tr', {},
        h('td', {}, h('a', { href: `#/room/${encodeURIComponent(room.arn)}` }, room.name || '(no name)')),
        h('td', {}, h('code', {}, room.id)),
        h('td', {}, room.messageReviewHandler?.uri ? 'review' : ''),
        h('td', {}, String(room.loggingConfigurationIdentifiers?.length ?? 0)),
        h('td', {}, formatTags(room.tags).replaceAll('\n', ', ')),
        h('td', {}, time(room.updateTime))));
    }
    if (!rows.children.length) rows.append(h('tr', {}, h('td', { colspan: 6 }, 'No rooms.')));
    nextToken = page.nextToken;
    more.hidden = !nextToken;
  }
  more.addEventListener('click', () => load(false));

  const controls = roomControls();
  const tags = h('textarea', { name: 'tags', rows: 2, placeholder: 'key=value, one per line' });
  const createError = alertBox();
  const create = h('form', {
    class: 'card',
    'aria-label': 'Create room',
    onsubmit: async (e) => {
      e.preventDefault();
      const input = { ...roomInput(controls), tags: parseTags(tags.value) };
      if (!input.messageReviewHandler.uri) delete input.messageReviewHandler;
      const room = await guarded(createError, () => api.createRoom(input));
      if (room) go(`#/room/${encodeURIComponent(room.arn)}`);
    },
  }, h('h2', {}, 'Create room'), roomFields(controls), field('Tags', tags), createError, h('button', {}, 'Create room'));

  main.replaceChildren(
    h('h1', {}, 'Rooms'),
    h('form', {
      class: 'filters',
      'aria-label': 'Filter rooms',
      onsubmit: (e) => {
        e.preventDefault();
        load(true);
      },
    }, field('Name', filters.name), field('Review handler', filters.uri), field('Logging configuration', filters.logging),
    h('button', {}, 'Filter')),
    error,
    h('div', { class: 'scroll' }, h('table', {},
      h('thead', {}, h('tr', {}, ['Name', 'Id', 'Review', 'Logging', 'Tags', 'Updated'].map((t) => h('th', { scope: 'col' }, t)))),
      rows)),
    more,
    create);
  load(true);
}
