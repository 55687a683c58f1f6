// whitelist.js owns the Whitelist Settings page: its header and tabs, and the IP whitelist tab (the
// groups table with each group's Modify and Delete, the Add Whitelist button, the state banners).
// The Security Groups tab is securitygroups.js; the group dialog is groupdialog.js.
import { h, append } from './dom.js';
import { call, instanceAttr, groups, boundGroups } from './api.js';
import { setChrome, rememberName, refresh } from './frame.js';
import { toast } from './toast.js';
import { confirmDialog } from './dialog.js';
import { splitEntries, isOpen, isSystem } from './entries.js';
import { groupDialog } from './groupdialog.js';
import { securityGroupsTab } from './securitygroups.js';
import { servedBy } from './instances.js';

function tabs(route) {
  const tab = (page, label) => h('a', { href: `#/i/${route.id}/${page}`, 'aria-current': route.page === page ? 'page' : null }, label);
  return h('nav', { class: 'tabs', 'aria-label': 'Whitelist kind' }, tab('whitelist', 'IP whitelist'), tab('security-groups', 'Security Groups'));
}

// whitelistPage fills view with Whitelist Settings: the IP whitelist tab, or the Security Groups tab
// when the route's page is 'security-groups'.
export async function whitelistPage(route, view) {
  setChrome(route, 'Whitelist Settings');
  const attr = await instanceAttr(route.id);
  rememberName(route.id, attr.InstanceName);
  setChrome(route, 'Whitelist Settings');
  const listens = attr.ListenAddresses || [];
  append(view,
    h('h1', {}, 'Whitelist Settings'),
    h('p', { class: 'subtitle' }, h('span', { class: 'mono' }, route.id), attr.InstanceName ? ` · ${attr.InstanceName}` : '',
      attr.EngineVersion ? ` · Redis ${attr.EngineVersion}` : '', listens.length ? ` · listens on ${listens.join(', ')}` : '',
      attr.BackendEngine ? h('span', { class: 'served-by' }, ` · served by ${servedBy(attr.BackendEngine)}`) : ''),
    tabs(route));
  if (route.page === 'security-groups') return securityGroupsTab(route, view, attr);
  return ipWhitelistTab(route, view);
}

async function ipWhitelistTab(route, view) {
  const list = await groups(route.id);
  let bound = [];
  try { bound = await boundGroups(route.id); } catch (e) { /* security groups not available: none bound */ }
  const all = list.flatMap((g) => splitEntries(g.SecurityIpList));
  const names = new Set(list.map((g) => g.SecurityIpGroupName));
  append(view,
    h('p', { class: 'note' }, 'Clients are admitted only from addresses listed here or from hosts in a bound security group. ',
      'Entries are IP addresses or CIDR blocks; 127.0.0.1 alone admits nobody and is ignored as soon as any other entry or security group exists. ',
      'Changes apply to new connections.'),
    stateBanner(all, bound),
    h('div', { class: 'toolbar' },
      h('button', { type: 'button', class: 'primary', id: 'add-whitelist', onclick: () => groupDialog({ instance: route.id, names }) }, 'Add Whitelist'),
      h('span', { class: 'spacer' }),
      h('span', { class: 'note' }, `${list.length} group${list.length === 1 ? '' : 's'}, ${all.length} entr${all.length === 1 ? 'y' : 'ies'}`)),
    h('table', { id: 'groups' },
      h('caption', {}, 'Whitelist groups'),
      h('thead', {}, h('tr', {},
        h('th', { scope: 'col' }, 'Group name'), h('th', { scope: 'col' }, 'Whitelist'), h('th', { scope: 'col' }, 'Actions'))),
      h('tbody', {}, list.map((g) => groupRow(route.id, g, names, all, bound.length > 0)))));
}

// stateBanner says when every address is refused (127.0.0.1 alone) or every address admitted.
function stateBanner(all, bound) {
  const onlyLoopback = all.length > 0 && all.every((e) => e === '127.0.0.1') && bound.length === 0;
  return [
    onlyLoopback ? h('p', { class: 'banner bad', id: 'state-banner' }, 'Every address is refused: 127.0.0.1 is the only entry. Add a client address to let it in.') : null,
    all.some(isOpen) ? h('p', { class: 'banner warn', id: 'state-banner' }, '0.0.0.0/0 is listed: every address may connect.') : null,
  ];
}

function groupRow(instance, g, names, all, anyBound) {
  const name = g.SecurityIpGroupName;
  const entries = splitEntries(g.SecurityIpList);
  const system = isSystem(g);
  return h('tr', { 'data-group': name },
    h('th', { scope: 'row' }, h('span', { class: 'mono' }, name),
      name === 'default' ? h('span', { class: 'badge' }, 'default') : null,
      system ? h('span', { class: 'badge system' }, g.SecurityIpGroupAttribute === 'hidden' ? 'hidden · system' : 'system') : null),
    h('td', {}, entryChips(name, entries, all, anyBound)),
    h('td', { class: 'actions' }, system
      ? h('span', { class: 'note' }, 'System group: not modified or deleted here')
      : groupActions(instance, g, names, entries.length)));
}

// entryChips shows a group's first 40 entries, the rest folded; 127.0.0.1 is marked void when
// other entries exist or a security group is bound (anyBound), open entries are marked open.
function entryChips(name, entries, all, anyBound) {
  if (!entries.length) return h('span', { class: 'note' }, 'no entries');
  const others = anyBound || all.some((e) => e !== '127.0.0.1');
  const shown = entries.slice(0, 40);
  const chips = h('ul', { class: 'entries', 'aria-label': `Entries of ${name}` }, shown.map((e) => h('li', {
    class: e === '127.0.0.1' && others ? 'void' : isOpen(e) ? 'open' : null,
    title: e === '127.0.0.1' && others ? '127.0.0.1 is void: other entries or security groups are in effect' : null,
  }, e)));
  const more = entries.length > shown.length
    ? h('details', {}, h('summary', {}, `and ${entries.length - shown.length} more`), h('p', { class: 'mono' }, entries.slice(40).join(', ')))
    : null;
  return [chips, more];
}

function groupActions(instance, g, names, n) {
  const name = g.SecurityIpGroupName;
  return [
    h('button', { type: 'button', class: 'link', 'aria-label': `Modify ${name}`, 'data-action': 'modify', onclick: () => groupDialog({ instance, names, group: g }) }, 'Modify'),
    name === 'default' ? null : h('button', { type: 'button', class: 'link danger-link', 'aria-label': `Delete ${name}`, 'data-action': 'delete', onclick: () => deleteGroup(instance, name, n) }, 'Delete'),
  ];
}

function deleteGroup(instance, name, n) {
  confirmDialog({
    title: `Delete whitelist group ${name}?`, action: 'Delete', danger: true,
    text: [`Its ${n} entr${n === 1 ? 'y' : 'ies'} will no longer admit new connections. Established connections continue until they disconnect, unless the instance's drop-on-revoke parameter is on.`],
    onConfirm: async () => {
      await call('DeleteSecurityIpGroup', { InstanceId: instance, SecurityIpGroupName: name });
      toast(`Whitelist group "${name}" deleted.`);
      await refresh();
    },
  });
}
