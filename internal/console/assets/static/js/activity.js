// activity.js owns the Activity page: refused connections (kept in memory since moat started, with a
// chart of refusals per minute) and the durable audit log of the instance's changes, each entry's
// before → after summarised for people.
import { h, append, fmtTime } from './dom.js';
import { call } from './api.js';
import { setChrome, refresh } from './frame.js';
import { chart } from './chart.js';

const REASONS = {
  illegal_address: 'not whitelisted (ERR illegal address)',
  backend_unavailable: 'backend unavailable',
  revoked: 'closed: no longer allowed (drop-on-revoke)',
  protocol_error: 'protocol error',
  protected_mode: 'protected mode (DENIED: no password set, not loopback)',
  max_clients: 'too many clients (maxclients)',
  tls_handshake: 'TLS handshake failed',
  auth_lockout: 'login locked out after repeated failures (answered as a wrong password)',
};

// activityPage fills view with the refused connections, the audit log of changes and the failed and
// denied calls; a part that cannot be read shows its error in its place.
export async function activityPage(route, view) {
  setChrome(route, 'Activity');
  const [ref, audit, failed] = await Promise.all([
    call('DescribeRefusedConnections', { InstanceId: route.id }).catch((e) => ({ error: e })),
    call('DescribeAuditLogs', { InstanceId: route.id, PageSize: 50 }).catch((e) => ({ error: e })),
    call('DescribeAuditLogs', { InstanceId: route.id, PageSize: 50, LogType: 'FailedCalls' }).catch((e) => ({ error: e })),
  ]);
  append(view,
    h('h1', {}, 'Activity'),
    h('div', { class: 'toolbar' },
      h('p', { class: 'subtitle' }, 'Refused connections since moat started (kept in memory), the durable audit log of changes, and the failed and denied calls, newest first.'),
      h('span', { class: 'spacer' }),
      h('button', { type: 'button', id: 'activity-refresh', onclick: () => refresh() }, 'Refresh')),
    h('h2', {}, 'Refused connections'),
    ref.error ? h('p', { class: 'banner bad' }, ref.error.text) : refusals(ref),
    h('h2', {}, 'Audit log'),
    audit.error ? h('p', { class: 'banner bad' }, audit.error.text) : auditTable(((audit.AuditLogs || {}).AuditLog) || []),
    h('h2', {}, 'Failed and denied calls'),
    failed.error ? h('p', { class: 'banner bad' }, failed.error.text) : failedTable(((failed.AuditLogs || {}).AuditLog) || []));
}

// errorLines splits a failed call's error, which may hold several (errors.Join: one a line).
const errorLines = (err) => String(err || '').split('\n').map((l) => l.trim()).filter(Boolean);

function refusals(ref) {
  const list = ((ref.RefusedConnections || {}).RefusedConnection) || [];
  return [
    chart(ref.Timeline || { Counts: [] }),
    h('table', { id: 'refusals' },
      h('caption', {}, `Recent refused connections: ${list.length} address${list.length === 1 ? '' : 'es'}, ${ref.TotalRefused || 0} refusals since start`),
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Address'), h('th', { scope: 'col' }, 'Reason'), h('th', { scope: 'col', class: 'num' }, 'Count'),
        h('th', { scope: 'col' }, 'Last seen'), h('th', { scope: 'col' }, 'First seen'))),
      h('tbody', {}, list.length === 0
        ? h('tr', {}, h('td', { colspan: 5, class: 'empty' }, 'No connection has been refused since moat started.'))
        : list.slice(0, 200).map((x) => h('tr', {},
          h('td', { class: 'mono' }, x.Address), h('td', {}, REASONS[x.Reason] || x.Reason), h('td', { class: 'num' }, String(x.Count)),
          h('td', {}, fmtTime(x.LastSeen)), h('td', {}, fmtTime(x.FirstSeen)))))),
  ];
}

function auditTable(entries) {
  return h('table', { id: 'audit' },
    h('caption', {}, `The last ${entries.length} entries for this instance, newest first`),
    h('thead', {}, h('tr', {}, ['Time', 'Action', 'Who', 'Result', 'Change'].map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', {}, entries.length === 0
      ? h('tr', {}, h('td', { colspan: 5, class: 'empty' }, 'No audited call for this instance yet.'))
      : entries.map(auditRow)));
}

function auditRow(e) {
  const lines = e.error ? errorLines(e.error) : changes(e.before, e.after);
  return h('tr', { 'data-seq': e.seq },
    h('td', {}, fmtTime(e.time)),
    h('td', { class: 'mono' }, e.action),
    h('td', {}, h('span', { class: 'mono nowrap' }, e.key_id), e.source ? h('span', { class: 'note' }, ` from ${e.source}`) : null),
    h('td', {}, h('span', { class: 'badge ' + (e.result === 'ok' ? 'ok' : 'bad') }, e.result)),
    h('td', {}, lines.length ? h('ul', { class: 'changes' }, lines.map((l) => h('li', {}, l))) : null,
      (e.before || e.after) ? h('details', { class: 'diff' }, h('summary', {}, 'before → after'),
        h('pre', {}, 'before: ' + JSON.stringify(e.before || null, null, 1) + '\nafter: ' + JSON.stringify(e.after || null, null, 1))) : null));
}

// failedTable lists the failed and denied calls: one row per key, action and result, with its count.
function failedTable(entries) {
  return h('table', { id: 'failed-calls' },
    h('caption', {}, `Failed and denied calls on this instance: ${entries.length} kind${entries.length === 1 ? '' : 's'}, most recently seen first`),
    h('thead', {}, h('tr', {}, ['Last seen', 'Action', 'Who', 'Result', 'Count', 'Error'].map((t) => h('th', { scope: 'col', class: t === 'Count' ? 'num' : null }, t)))),
    h('tbody', {}, entries.length === 0
      ? h('tr', {}, h('td', { colspan: 6, class: 'empty' }, 'No failed or denied call for this instance.'))
      : entries.map(failedRow)));
}

function failedRow(e) {
  const lines = errorLines(e.error);
  return h('tr', { 'data-seq': e.seq },
    h('td', {}, fmtTime(e.time), e.count > 1 ? h('span', { class: 'note' }, ` since ${fmtTime(e.first_seen)}`) : null),
    h('td', { class: 'mono' }, e.action),
    h('td', {}, h('span', { class: 'mono nowrap' }, e.key_id), e.source ? h('span', { class: 'note' }, ` from ${e.source}`) : null),
    h('td', {}, h('span', { class: 'badge bad' }, e.result)),
    h('td', { class: 'num' }, String(e.count)),
    h('td', {}, lines.length ? h('ul', { class: 'changes' }, lines.map((l) => h('li', {}, l))) : null));
}

// changes summarises an audit entry's before → after for people: groups and entries added and
// removed, parameters changed, anything else named.
function changes(before, after) {
  if (!before && !after) return [];
  const out = [...groupChanges(before, after), ...paramChanges(before, after)];
  if (before && after) out.push(...otherChanges(before, after));
  else if (!before && after && !after.groups) out.push('created');
  return out;
}

function groupChanges(before, after) {
  const groupsOf = (x) => Object.fromEntries(((x && x.groups) || []).map((g) => [g.name, (g.entries || []).map((e) => e.replace(/\/(32|128)$/, ''))]));
  const b = groupsOf(before), a = groupsOf(after);
  const out = [];
  for (const name of new Set([...Object.keys(b), ...Object.keys(a)])) {
    if (!(name in b)) out.push(`group ${name} created: ${a[name].join(', ')}`);
    else if (!(name in a)) out.push(`group ${name} deleted (had ${b[name].join(', ')})`);
    else {
      const added = a[name].filter((e) => !b[name].includes(e));
      const removed = b[name].filter((e) => !a[name].includes(e));
      if (added.length || removed.length) out.push(`group ${name}: ${added.map((e) => '+' + e).concat(removed.map((e) => '−' + e)).join(', ')}`);
    }
  }
  return out;
}

function paramChanges(before, after) {
  const pb = (before && before.params) || {}, pa = (after && after.params) || {};
  const out = [];
  for (const k of new Set([...Object.keys(pb), ...Object.keys(pa)])) {
    if (pb[k] !== pa[k]) out.push(`parameter ${k}: ${pb[k] === undefined ? 'default' : pb[k]} → ${pa[k] === undefined ? 'default' : pa[k]}`);
  }
  return out;
}

// otherChanges names every other field that changed; lists of strings (such as security_groups,
// the IDs bound) say what was added and removed.
function otherChanges(before, after) {
  const strings = (x) => x === undefined || x === null || (Array.isArray(x) && x.every((e) => typeof e === 'string'));
  const out = [];
  for (const k of new Set([...Object.keys(before), ...Object.keys(after)])) {
    if (k === 'groups' || k === 'params') continue;
    const b = before[k], a = after[k];
    if (JSON.stringify(b) === JSON.stringify(a)) continue;
    if (strings(b) && strings(a)) {
      const bs = b || [], as = a || [];
      const diff = as.filter((e) => !bs.includes(e)).map((e) => '+' + e).concat(bs.filter((e) => !as.includes(e)).map((e) => '−' + e));
      out.push(`${k.replace(/_/g, ' ')}: ${diff.join(', ') || 'reordered'}`);
    } else {
      out.push(`${k.replace(/_/g, ' ')} changed`);
    }
  }
  return out;
}
