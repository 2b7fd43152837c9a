// A few helpers to build the pages from plain DOM elements (no framework, no build step).

/** h('a', {href: '#'}, 'text', child…): an element with attributes (`on*` are listeners). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2).toLowerCase(), v);
    else if (k === 'class') el.className = v;
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, v);
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

let nextId = 0;

/** A labelled input: h('label') + the control, tied by id (for screen readers and tests). */
export function field(label, control, hint) {
  control.id ||= `f${++nextId}`;
  return h('div', { class: 'field' }, h('label', { for: control.id }, label), control, hint ? h('small', {}, hint) : null);
}

/** An error from the API, as AWS names it: "ResourceNotFoundException: Room … not found". */
export function errorText(err) {
  return err?.name && err?.message && err.name !== 'Error' ? `${err.name}: ${err.message}` : String(err?.message ?? err);
}

/** Runs `action`, showing its error (or nothing) in `box` (an element with role=alert). */
export async function guarded(box, action) {
  box.textContent = '';
  try {
    return await action();
  } catch (err) {
    box.textContent = errorText(err);
    return undefined;
  }
}

export const alertBox = () => h('p', { class: 'error', role: 'alert' });

/** "k=v" lines → {k: v}; blank lines ignored. */
export function parseTags(text) {
  const tags = {};
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const at = line.indexOf('=');
    tags[(at < 0 ? line : line.slice(0, at)).trim()] = at < 0 ? '' : line.slice(at + 1).trim();
  }
  return tags;
}

export const formatTags = (tags = {}) => Object.entries(tags).map(([k, v]) => `${k}=${v}`).join('\n');

export const time = (iso) => (iso ? new Date(iso).toLocaleString() : '');
