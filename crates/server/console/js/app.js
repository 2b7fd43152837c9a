// The console's entry point: sign-in, navigation between pages (location.hash), sign-out.
// Keys live in this page's memory, or in sessionStorage when the user asks; never in a cookie.
import * as api from './api.js';
import { loggingPage } from './logging.js';
import { roomPage } from './room.js';
import { roomsPage } from './rooms.js';
import { alertBox, field, guarded, h } from './dom.js';

const STORAGE_KEY = 'ivschat-console-credentials';
const main = document.querySelector('main');
const nav = document.querySelector('nav');
let leaveCurrent = null;

function go(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

function signInPage() {
  const accessKeyId = h('input', { name: 'accessKeyId', autocomplete: 'username', required: true });
  const secretAccessKey = h('input', { name: 'secretAccessKey', type: 'password', autocomplete: 'current-password', required: true });
  const region = h('input', { name: 'region', value: 'us-east-1', required: true });
  const remember = h('input', { type: 'checkbox', name: 'remember' });
  const error = alertBox();
  main.replaceChildren(
    h('h1', {}, 'Sign in'),
    h('p', {}, 'Use an access key this server accepts. Every request is signed in this page with SigV4; ',
      'the key can do here exactly what it can do through an AWS SDK.'),
    h('form', {
      class: 'card',
      'aria-label': 'Sign in',
      onsubmit: async (e) => {
        e.preventDefault();
        const credentials = { accessKeyId: accessKeyId.value.trim(), secretAccessKey: secretAccessKey.value, region: region.value.trim() };
        api.signIn(credentials);
        // A cheap signed call proves the key before the console opens.
        const ok = await guarded(error, () => api.listRooms({ maxResults: 1 }).then(() => true));
        if (!ok) {
          api.signOut();
          return;
        }
        if (remember.checked) sessionStorage.setItem(STORAGE_KEY, JSON.stringify(credentials));
        go('#/rooms');
      },
    }, field('Access key id', accessKeyId), field('Secret access key', secretAccessKey), field('Region', region),
    h('label', { class: 'check' }, remember, ' Remember for this browser tab (session storage)'), error,
    h('button', {}, 'Sign in')));
  accessKeyId.focus();
}

function renderNav() {
  nav.replaceChildren();
  if (!api.signedIn()) return;
  nav.append(
    h('a', { href: '#/rooms' }, 'Rooms'),
    h('a', { href: '#/logging' }, 'Logging configurations'),
    h('span', { class: 'who' }, api.currentUser().accessKeyId),
    h('button', {
      type: 'button',
      onclick: () => {
        api.signOut();
        sessionStorage.removeItem(STORAGE_KEY);
        go('#/signin');
      },
    }, 'Sign out'));
}

async function route() {
  leaveCurrent?.();
  leaveCurrent = null;
  renderNav();
  const hash = location.hash || '#/rooms';
  if (!api.signedIn()) return signInPage();
  if (hash === '#/signin') return go('#/rooms');
  if (hash.startsWith('#/room/')) {
    await roomPage(main, go, decodeURIComponent(hash.slice('#/room/'.length)), (leave) => (leaveCurrent = leave));
  } else if (hash === '#/logging') {
    loggingPage(main);
  } else {
    roomsPage(main, go);
  }
  // A new page: keyboard and screen-reader users start at its heading, not where the old
  // page's focused control used to be.
  const heading = main.querySelector('h1');
  if (heading) {
    heading.tabIndex = -1;
    heading.focus();
  }
}

const remembered = sessionStorage.getItem(STORAGE_KEY);
if (remembered) api.signIn(JSON.parse(remembered));
window.addEventListener('hashchange', route);
route();
