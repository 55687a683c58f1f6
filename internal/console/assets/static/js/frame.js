// frame.js owns the frame around the pages: the route read from the address's hash, the breadcrumb,
// the side navigation, the document title, the instance-name cache the breadcrumb uses, and
// rendering the current page into <main> (render, and refresh after a change). It knows no page: the
// routing table is given to start.
import { h, append, clear } from './dom.js';
import { ApiError } from './api.js';
import { clearToasts } from './toast.js';

let pages = {};            // route.page → page(route, view, isCurrent); set once by start
let instanceNames = {};    // instance ID → name, for the breadcrumb
let renderSeq = 0;         // the latest render; an older one that finishes late is dropped
let quiet = false;         // refresh: do not move the focus to the heading

// start renders the page the address names and every page the address moves to. table maps a
// route's page ('instances', 'whitelist', …) to the function that fills a view for it; 'instances'
// is also the page for an unknown route.
export function start(table) {
  pages = table;
  window.addEventListener('hashchange', () => { clearToasts(); render(); });
  if (!location.hash) history.replaceState(null, '', '#/instances');
  render();
}

// rememberNames replaces the instance-name cache with the instances listed.
export function rememberNames(list) {
  instanceNames = Object.fromEntries(list.map((x) => [x.InstanceId, x.InstanceName]));
}

// rememberName records one instance's name.
export function rememberName(id, name) { instanceNames[id] = name; }

// setChrome draws the breadcrumb, the side navigation and the title for route, whose page is title.
export function setChrome(route, title) {
  drawCrumbs(route, title);
  drawSide(route);
  document.title = (route.id ? `${title} · ${route.id}` : title) + ' · moat console';
}

function drawCrumbs(route, title) {
  const crumbs = clear(document.getElementById('crumbs'));
  const items = [['#/instances', 'Instances']];
  if (route.id) items.push([`#/i/${route.id}/whitelist`, instanceNames[route.id] ? `${instanceNames[route.id]} (${route.id})` : route.id]);
  if (route.id) items.push([null, title]);
  items.forEach(([href, label], i) => {
    const last = i === items.length - 1;
    crumbs.append(h('li', {}, last ? h('span', { 'aria-current': 'page' }, label) : h('a', { href }, label)));
  });
}

function drawSide(route) {
  const side = clear(document.getElementById('side'));
  side.append(h('p', { class: 'side-title' }, 'Console'),
    h('ul', {}, h('li', {}, h('a', { href: '#/instances', 'aria-current': route.page === 'instances' ? 'page' : null }, 'Instances'))));
  if (!route.id) return;
  const link = (page, label) => h('li', {}, h('a', {
    href: `#/i/${route.id}/${page}`,
    'aria-current': (route.page === page || (page === 'whitelist' && route.page === 'security-groups')) ? 'page' : null,
  }, label));
  side.append(h('p', { class: 'side-title' }, 'Instance ', h('span', { class: 'mono' }, route.id)),
    h('ul', {}, link('whitelist', 'Whitelist Settings'), link('check', 'Access check'), link('activity', 'Activity')));
}

function parseRoute() {
  const m = location.hash.match(/^#\/i\/([a-z0-9-]+)\/([a-z-]+)$/);
  if (m) return { id: m[1], page: m[2] };
  return { page: 'instances' };
}

// render fills a new view with the current route's page and puts it in <main>, with the focus on its
// heading; a page that fails shows its error instead.
async function render() {
  const seq = ++renderSeq;
  const route = parseRoute();
  const page = pages[route.page] || pages.instances;
  const view = h('div', { class: 'view' });
  try {
    await page(route, view, () => seq === renderSeq);
  } catch (e) {
    append(view, h('p', { class: 'banner bad', role: 'alert' }, e instanceof ApiError ? e.text : String(e)));
  }
  if (seq !== renderSeq) return;
  const main = document.getElementById('main');
  clear(main).append(view);
  const h1 = main.querySelector('h1');
  if (h1 && !quiet) { h1.setAttribute('tabindex', '-1'); h1.focus(); }
}

// refresh re-renders the current page without moving the focus to its heading (after a change in
// a dialog, the dialog's closing returns the focus to the button that opened it, if still there).
export async function refresh() {
  quiet = true;
  const active = document.activeElement && document.activeElement.id;
  try { await render(); } finally { quiet = false; }
  if (active && document.getElementById(active)) document.getElementById(active).focus();
}
