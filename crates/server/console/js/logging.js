// Logging configurations: list (paginated), create and edit with any of the three
// destinations (S3 bucket, CloudWatch Logs group, Firehose stream), delete.
import * as api from './api.js';
import { alertBox, field, guarded, h, parseTags, time } from './dom.js';

const KINDS = {
  s3: { label: 'S3 bucket', member: 'bucketName' },
  cloudWatchLogs: { label: 'CloudWatch Logs group', member: 'logGroupName' },
  firehose: { label: 'Firehose delivery stream', member: 'deliveryStreamName' },
};

function destinationControls(current) {
  const kind = Object.keys(current ?? {})[0] ?? 's3';
  const select = h('select', { name: 'destinationKind' },
    Object.entries(KINDS).map(([k, v]) => h('option', { value: k, selected: k === kind }, v.label)));
  const value = h('input', { name: 'destinationName', value: current?.[kind]?.[KINDS[kind].member] ?? '', required: true });
  return {
    fields: [field('Destination', select), field('Bucket, log group or stream name', value)],
    read: () => ({ [select.value]: { [KINDS[select.value].member]: value.value } }),
  };
}

const describe = (dest) => Object.entries(dest ?? {}).map(([k, v]) => `${KINDS[k]?.label ?? k}: ${Object.values(v)[0]}`).join('');

export function loggingPage(main) {
  const error = alertBox();
  const rows = h('tbody');
  const more = h('button', { type: 'button', hidden: true }, 'Next page');
  let nextToken;

  async function load(reset) {
    if (reset) {
      nextToken = undefined;
      rows.replaceChildren();
    }
    const page = await guarded(error, () => api.listLoggingConfigurations({ maxResults: 20, nextToken }));
    if (!page) return;
    for (const cfg of page.loggingConfigurations) rows.append(row(cfg));
    if (!rows.children.length) rows.append(h('tr', {}, h('td', { colspan: 5 }, 'No logging configurations.')));
    nextToken = page.nextToken;
    more.hidden = !nextToken;
  }
  more.addEventListener('click', () => load(false));

  function row(cfg) {
    const rowError = alertBox();
    const name = h('input', { name: 'loggingName', value: cfg.name ?? '', 'aria-label': `Name of ${cfg.id}` });
    const dest = destinationControls(cfg.destinationConfiguration);
    const editor = h('form', {
      hidden: true,
      'aria-label': `Edit ${cfg.id}`,
      onsubmit: async (e) => {
        e.preventDefault();
        const updated = await guarded(rowError, () =>
          api.updateLoggingConfiguration({ identifier: cfg.arn, name: name.value, destinationConfiguration: dest.read() }));
        if (updated) tr.replaceWith(row(updated));
      },
    }, field('Name', name), dest.fields, h('button', {}, 'Save'));
    const tr = h('tr', {},
      h('td', {}, cfg.name || '(no name)', h('br'), h('code', {}, cfg.arn)),
      h('td', {}, describe(cfg.destinationConfiguration)),
      h('td', {}, cfg.state),
      h('td', {}, time(cfg.updateTime)),
      h('td', {},
        h('button', { type: 'button', class: 'small', onclick: () => (editor.hidden = !editor.hidden) }, 'Edit'), ' ',
        h('button', {
          type: 'button',
          class: 'small danger',
          onclick: async () => {
            if (!confirm(`Delete logging configuration ${cfg.name || cfg.id}?`)) return;
            const done = await guarded(rowError, () => api.deleteLoggingConfiguration({ identifier: cfg.arn }).then(() => true));
            if (done) tr.remove();
          },
        }, 'Delete'),
        rowError, editor));
    return tr;
  }

  const name = h('input', { name: 'newLoggingName' });
  const tags = h('textarea', { name: 'newLoggingTags', rows: 2, placeholder: 'key=value, one per line' });
  const dest = destinationControls();
  const createError = alertBox();
  const create = h('form', {
    class: 'card',
    'aria-label': 'Create logging configuration',
    onsubmit: async (e) => {
      e.preventDefault();
      const cfg = await guarded(createError, () =>
        api.createLoggingConfiguration({ name: name.value || undefined, destinationConfiguration: dest.read(), tags: parseTags(tags.value) }));
      if (cfg) load(true);
    },
  }, h('h2', {}, 'Create logging configuration'), field('Name', name), dest.fields, field('Tags', tags), createError,
  h('button', {}, 'Create logging configuration'));

  main.replaceChildren(
    h('h1', {}, 'Logging configurations'),
    error,
    h('div', { class: 'scroll' }, h('table', {},
      h('thead', {}, h('tr', {}, ['Name', 'Destination', 'State', 'Updated', ''].map((t) => h('th', { scope: 'col' }, t)))),
      rows)),
    more,
    create);
  load(true);
}
