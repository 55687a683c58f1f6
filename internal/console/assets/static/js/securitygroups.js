// securitygroups.js owns the Security Groups tab of Whitelist Settings: the security groups bound to
// the instance (each with Delete), why binding may be impossible (SG3), and "Add Security Group", a
// picker with fuzzy search by name or ID. Binding is ModifySecurityGroupConfiguration with the whole
// new list of IDs.
import { h, append, clear } from './dom.js';
import { call, boundGroups, securityGroups } from './api.js';
import { refresh } from './frame.js';
import { toast } from './toast.js';
import { dialog, cancelButton, confirmDialog } from './dialog.js';
import { rank, highlight } from './fuzzy.js';

const MAX_SECURITY_GROUPS = 10;
const EXPLAIN = 'Every private and public IP of every host in a bound security group may connect. A security group\'s own rules do not apply to the instance. ' +
  'Up to 10 security groups per instance; security groups need Redis 4.0 or later and are not supported by cloud-native cluster and read/write splitting instances.';

// sgRestriction says why security groups cannot be bound to this instance (SG3), or ''.
function sgRestriction(attr) {
  const major = parseInt(String(attr.EngineVersion || ''), 10);
  if (!isNaN(major) && major < 4) return `This instance runs Redis ${attr.EngineVersion}: security groups need Redis 4.0 or later.`;
  const type = String(attr.ArchitectureType || '').toLowerCase();
  if (attr.Architecture === 'cloud_native' && (type === 'cluster' || type === 'rwsplit' || type === 'rw_split')) {
    return `This is a cloud-native ${type === 'cluster' ? 'cluster' : 'read/write splitting'} instance: these do not support security groups.`;
  }
  return '';
}

// securityGroupsTab fills view with the instance's bound security groups (attr describes the
// instance). A moat that does not answer the binding actions gets a notice instead.
export async function securityGroupsTab(route, view, attr) {
  let bound;
  try {
    bound = await boundGroups(route.id);
  } catch (e) {
    if (!e.notAvailable) throw e;
    append(view, h('p', { class: 'note' }, EXPLAIN),
      h('div', { class: 'banner info', id: 'sg-unavailable', role: 'status' },
        h('strong', {}, 'Security groups are not available in this moat yet. '),
        `It does not answer DescribeSecurityGroupConfiguration (${e.code}). Use the IP whitelist meanwhile.`));
    return;
  }
  let all = [];
  let listError = '';
  try { all = await securityGroups(); } catch (e) { listError = e.text; }
  const ids = bound.map((b) => b.SecurityGroupId);
  const restriction = sgRestriction(attr);
  append(view,
    h('p', { class: 'note' }, EXPLAIN),
    restriction ? h('p', { class: 'banner warn', id: 'sg-restriction' }, restriction) : null,
    listError ? h('p', { class: 'banner bad' }, `Could not list security groups: ${listError}`) : null,
    h('div', { class: 'toolbar' },
      h('button', {
        type: 'button', class: 'primary', id: 'add-sg', disabled: !!restriction || ids.length >= MAX_SECURITY_GROUPS,
        onclick: () => addSecurityGroupDialog(route.id, ids, all),
      }, 'Add Security Group'),
      h('span', { class: 'spacer' }),
      h('span', { class: 'note', id: 'sg-count' }, `${ids.length} of ${MAX_SECURITY_GROUPS} security groups bound`)),
    boundTable(route.id, bound, ids, all));
}

function boundTable(instance, bound, ids, all) {
  const byId = Object.fromEntries(all.map((g) => [g.SecurityGroupId, g]));
  return h('table', { id: 'security-groups' },
    h('caption', {}, 'Security groups bound to this instance'),
    h('thead', {}, h('tr', {}, ['Security group ID', 'Name', 'VPC', 'Network', 'Hosts', 'Actions'].map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', {}, bound.length === 0
      ? h('tr', {}, h('td', { colspan: 6, class: 'empty' }, 'No security group is bound.'))
      : bound.map((b) => boundRow(instance, b, byId[b.SecurityGroupId] || {}, ids))));
}

function boundRow(instance, b, g, ids) {
  return h('tr', { 'data-sg': b.SecurityGroupId },
    h('td', { class: 'mono' }, b.SecurityGroupId),
    h('td', {}, g.SecurityGroupName || ''),
    h('td', { class: 'mono' }, g.VpcId || ''),
    h('td', {}, b.NetType || ''),
    h('td', { class: 'num' }, g.EcsCount === undefined ? '' : String(g.EcsCount)),
    h('td', { class: 'actions' }, h('button', {
      type: 'button', class: 'link danger-link', 'aria-label': `Delete ${b.SecurityGroupId}`,
      onclick: () => unbind(instance, b.SecurityGroupId, ids),
    }, 'Delete')));
}

function unbind(instance, id, ids) {
  confirmDialog({
    title: `Remove security group ${id}?`, action: 'Delete', danger: true,
    text: ['Its hosts will no longer be admitted by this security group (new connections).'],
    onConfirm: async () => {
      await call('ModifySecurityGroupConfiguration', { DBInstanceId: instance, SecurityGroupId: ids.filter((x) => x !== id).join(',') });
      toast(`Security group ${id} removed.`);
      await refresh();
    },
  });
}

// addSecurityGroupDialog picks security groups of all that are not bound yet (boundIds), up to the
// room left, and binds them with the bound ones.
function addSecurityGroupDialog(instance, boundIds, all) {
  const room = MAX_SECURITY_GROUPS - boundIds.length;
  const picked = new Set();
  const search = h('input', { type: 'search', id: 'sg-search', placeholder: 'Security group name or ID', autocomplete: 'off', 'aria-describedby': 'sg-picker-count' });
  const listEl = h('ul', { id: 'sg-list', 'aria-label': 'Security groups' });
  const countEl = h('span', { id: 'sg-picker-count', 'aria-live': 'polite' });
  const err = h('p', { class: 'form-error', role: 'alert' });
  const ok = h('button', { type: 'submit', class: 'primary', id: 'sg-ok', disabled: true }, 'OK');
  const candidates = all.filter((g) => !boundIds.includes(g.SecurityGroupId));
  const picker = { search, listEl, countEl, ok, picked, room, candidates };
  const draw = () => drawCandidates(picker, draw);
  search.addEventListener('input', draw);
  const form = h('form', {},
    h('header', {}, h('h2', { id: 'dlg-title' }, 'Add Security Group')),
    h('div', { class: 'body' },
      h('div', { class: 'picker' },
        h('div', { class: 'picker-head' }, h('label', { for: 'sg-search', class: 'label' }, 'Search by security group name or ID'), search),
        listEl,
        h('div', { class: 'picker-foot' }, countEl))),
    h('footer', {}, err, ok, cancelButton()));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    ok.disabled = true;
    try {
      await call('ModifySecurityGroupConfiguration', { DBInstanceId: instance, SecurityGroupId: boundIds.concat([...picked]).join(',') });
      d.close();
      toast(`${picked.size} security group${picked.size === 1 ? '' : 's'} bound.`);
      await refresh();
    } catch (e) {
      err.textContent = e.text;
      ok.disabled = false;
    }
  });
  const d = dialog({ id: 'sg-dialog' }, form);
  draw();
  search.focus();
}

// drawCandidates lists the candidates the search matches, best first, each a checkbox (disabled
// once the room is used up); draw redraws after a pick.
function drawCandidates({ search, listEl, countEl, ok, picked, room, candidates }, draw) {
  clear(listEl);
  const q = search.value.trim();
  const shown = rank(candidates, q, (g) => [g.SecurityGroupName, g.SecurityGroupId]);
  for (const g of shown) {
    const id = g.SecurityGroupId;
    const cb = h('input', { type: 'checkbox', value: id, checked: picked.has(id), disabled: !picked.has(id) && picked.size >= room });
    cb.addEventListener('change', () => { cb.checked ? picked.add(id) : picked.delete(id); ok.disabled = picked.size === 0; draw(); });
    listEl.append(h('li', {}, h('label', {}, cb, h('span', {}, highlight(g.SecurityGroupName || '(no name)', q)),
      h('span', { class: 'sub mono' }, highlight(id, q), g.VpcId ? ` · ${g.VpcId}` : '',
        g.EcsCount === undefined ? '' : ` · ${g.EcsCount} host${g.EcsCount === 1 ? '' : 's'}`))));
  }
  if (candidates.length === 0) listEl.append(h('li', { class: 'picker-empty' }, 'Every security group is bound already, or none exists (`moat sg create`).'));
  else if (shown.length === 0) listEl.append(h('li', { class: 'picker-empty' }, `No security group matches "${q}".`));
  countEl.textContent = `${picked.size} selected; ${room} more can be bound (at most ${MAX_SECURITY_GROUPS} per instance)`;
}
