// instances.js owns the Instances page, the instance picker: every instance this login may see,
// each a link to its Whitelist Settings.
import { h, append } from './dom.js';
import { instances } from './api.js';
import { setChrome, rememberNames } from './frame.js';

const COLUMNS = ['Instance ID', 'Name', 'Listen addresses', 'Backend', 'Engine', 'Served by', 'State', 'Actions'];

// servedBy says what serves an instance's data from the API's BackendEngine: "managed redis-server
// 7.0.15 (pid 4242)", "in-process engine", "external server"; '' when the API does not say.
export function servedBy(e) {
  if (!e || !e.Kind) return '';
  if (e.Kind === 'managed') return `managed ${e.Server} ${e.Version} ${e.PID ? `(pid ${e.PID})` : '(restarting)'}`;
  if (e.Kind === 'in-process') return 'in-process engine';
  return 'external server';
}

// instancesPage fills view with the table of instances.
export async function instancesPage(route, view) {
  setChrome(route, 'Instances');
  const list = await instances();
  rememberNames(list);
  append(view,
    h('h1', {}, 'Instances'),
    h('p', { class: 'subtitle' }, `${list.length} instance${list.length === 1 ? '' : 's'} this login may see. Pick one to manage its whitelist.`),
    h('table', { id: 'instances' },
      h('caption', {}, 'Instances'),
      h('thead', {}, h('tr', {}, COLUMNS.map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, list.length === 0
        ? h('tr', {}, h('td', { colspan: COLUMNS.length, class: 'empty' }, 'No instance. Create one with `moat instance create`.'))
        : list.map(instanceRow))));
}

function instanceRow(x) {
  return h('tr', {},
    h('td', { class: 'nowrap' }, h('a', { href: `#/i/${x.InstanceId}/whitelist`, class: 'mono' }, x.InstanceId)),
    h('td', {}, x.InstanceName || ''),
    h('td', { class: 'mono' }, (x.ListenAddresses || []).join(', ')),
    h('td', { class: 'mono' }, x.Backend || ''),
    h('td', {}, x.EngineVersion ? `Redis ${x.EngineVersion}` : ''),
    h('td', { class: 'served-by' }, servedBy(x.BackendEngine)),
    h('td', {}, x.InstanceStatus === 'Normal' ? h('span', { class: 'badge ok' }, 'Running') : (x.InstanceStatus || '')),
    h('td', { class: 'actions' }, h('a', { href: `#/i/${x.InstanceId}/whitelist`, 'aria-label': `Manage ${x.InstanceId}` }, 'Manage')));
}
