// moat console. Plain JavaScript, no framework, no build step. Every read and change is a call to
// moat's control-plane API (the same actions the SDK and the CLI use) through /console/api, which
// checks the session and the CSRF token and hands the call to the API as the logged-in caller.
// Text from the API is always put in the page with textContent, never parsed as HTML.
'use strict';

(function () {
  const KV = '2015-01-01';   // R-kvstore: whitelists, instances, security-group binding, moat's own
  const ECS = '2014-05-26';  // ECS: hosts and security groups
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const main = document.getElementById('main');
  const side = document.getElementById('side');
  const crumbs = document.getElementById('crumbs');
  const toastBox = document.getElementById('toast');
  const SYSTEM_GROUPS = ['ali_dms_group', 'hdm_security_ips'];
  const MAX_ENTRIES = 1000;
  const MAX_SECURITY_GROUPS = 10;

  // ---------------------------------------------------------------------------------------------
  // DOM helpers

  // h builds an element: h('a', {href: '#'}, 'text', child, …). Attributes starting with "on" are
  // listeners; class, text and boolean attributes are handled; strings become text nodes.
  function h(tag, attrs, ...children) {
    const el = tag.startsWith('svg:')
      ? document.createElementNS('http://www.w3.org/2000/svg', tag.slice(4))
      : document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else if (k === 'class') el.setAttribute('class', v);
      else if (k === 'text') el.textContent = v;
      else if (v === true) el.setAttribute(k, '');
      else el.setAttribute(k, String(v));
    }
    append(el, children);
    return el;
  }
  function append(el, ...children) {
    for (const c of children.flat(Infinity)) {
      if (c === undefined || c === null || c === false) continue;
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  }
  function clear(el) { while (el.firstChild) el.firstChild.remove(); return el; }

  // toast says what a change did, in the live region (role=status) at the bottom right. So that none
  // stays over the page's content: at most TOAST_MAX are shown (a new one pushes out the oldest), each
  // goes by itself after a few seconds (a warning stays longer, and the time stops while the pointer
  // or the focus is on it), each has a button to dismiss it, and all go when the reader moves to
  // another page (clearToasts, on hashchange).
  const TOAST_MAX = 3;
  const TOAST_MS = 5000;
  const TOAST_WARN_MS = 10000;
  function toast(msg, kind) {
    const d = h('div', { class: kind ? 'toast-item ' + kind : 'toast-item' });
    let timer = 0, hover = false, focus = false;
    const dismiss = () => {
      clearTimeout(timer);
      if (!d.isConnected) return;
      const hadFocus = d.contains(document.activeElement);
      d.remove();
      if (hadFocus) main.focus(); // not lost to the body
    };
    const wait = () => {
      clearTimeout(timer);
      if (!hover && !focus) timer = setTimeout(dismiss, kind === 'warn' ? TOAST_WARN_MS : TOAST_MS);
    };
    d.addEventListener('mouseenter', () => { hover = true; wait(); });
    d.addEventListener('mouseleave', () => { hover = false; wait(); });
    d.addEventListener('focusin', () => { focus = true; wait(); });
    d.addEventListener('focusout', (ev) => { if (!d.contains(ev.relatedTarget)) { focus = false; wait(); } });
    append(d, h('span', { class: 'toast-text' }, msg),
      h('button', { type: 'button', class: 'toast-close', 'aria-label': 'Dismiss notification', title: 'Dismiss', onclick: dismiss }, '×'));
    toastBox.append(d);
    while (toastBox.children.length > TOAST_MAX) toastBox.firstElementChild.remove();
    wait();
  }
  function clearToasts() { clear(toastBox); }

  function fmtTime(s) {
    if (!s) return '';
    const d = new Date(s);
    if (isNaN(d)) return s;
    const p = (n) => String(n).padStart(2, '0');
    return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
  }

  // ---------------------------------------------------------------------------------------------
  // The API

  class ApiError extends Error {
    constructor(status, code, message, requestId) {
      super(message || code);
      this.status = status; this.code = code || ''; this.requestId = requestId || '';
    }
    // notAvailable: this moat does not answer the action (yet).
    get notAvailable() { return this.code === 'InvalidAction.NotFound' || this.code === 'InvalidVersion'; }
    get text() { return this.code ? `${this.code}: ${this.message}` : this.message; }
  }

  async function call(action, params, version) {
    const body = new URLSearchParams();
    body.set('Action', action);
    body.set('Version', version || KV);
    for (const [k, v] of Object.entries(params || {})) {
      if (v !== undefined && v !== null) body.set(k, String(v));
    }
    let res;
    try {
      res = await fetch('api', {
        method: 'POST', credentials: 'same-origin', body,
        headers: { 'X-CSRF-Token': csrf, 'Content-Type': 'application/x-www-form-urlencoded' },
      });
    } catch (e) {
      throw new ApiError(0, 'NetworkError', 'moat did not answer: is it running?');
    }
    let data = null;
    try { data = await res.json(); } catch (e) { data = null; }
    if (res.status === 401 && data && /^Console/.test(data.Code || '')) {
      location.href = data.Code === 'ConsoleSessionExpired' ? 'login?expired=1' : 'login';
      throw new ApiError(401, data.Code, data.Message);
    }
    if (!res.ok) {
      if (!data) throw new ApiError(res.status, 'HTTP' + res.status, res.statusText);
      throw new ApiError(res.status, data.Code, data.Message, data.RequestId);
    }
    return data || {};
  }

  // ---------------------------------------------------------------------------------------------
  // Data shaping

  // Entries: the API's SecurityIpList is one comma-separated string.
  function splitEntries(s) {
    return String(s || '').split(/[\s,]+/).map((x) => x.trim()).filter(Boolean);
  }
  const isOpen = (e) => e === '0.0.0.0/0' || e === '::/0';
  const isSystem = (g) => g.SecurityIpGroupAttribute === 'hidden' || SYSTEM_GROUPS.includes(g.SecurityIpGroupName);

  async function instances() {
    const out = [];
    for (let page = 1; page <= 50; page++) {
      const r = await call('DescribeInstances', { PageSize: 100, PageNumber: page });
      const list = (r.Instances && r.Instances.KVStoreInstance) || [];
      out.push(...list);
      if (out.length >= (r.TotalCount || 0) || list.length === 0) break;
    }
    return out;
  }

  async function instanceAttr(id) {
    const r = await call('DescribeInstanceAttribute', { InstanceId: id });
    return ((r.Instances && r.Instances.DBInstanceAttribute) || [])[0] || { InstanceId: id };
  }

  async function groups(id) {
    const r = await call('DescribeSecurityIps', { InstanceId: id });
    return (r.SecurityIpGroups && r.SecurityIpGroups.SecurityIpGroup) || [];
  }

  // Hosts are ECS DescribeInstances (2014-05-26). Internal addresses are the VPC private IPs (and the
  // classic network's inner IPs); public ones are not offered for "Import host internal IP addresses".
  function hostFrom(x) {
    const ips = (o) => (o && Array.isArray(o.IpAddress) ? o.IpAddress : []);
    const priv = [
      ...ips(x.VpcAttributes && x.VpcAttributes.PrivateIpAddress),
      ...ips(x.InnerIpAddress),
      ...(((x.NetworkInterfaces || {}).NetworkInterface) || []).map((n) => n.PrimaryIpAddress).filter(Boolean),
    ];
    const pub = [...ips(x.PublicIpAddress), ...(x.EipAddress && x.EipAddress.IpAddress ? [x.EipAddress.IpAddress] : [])];
    return {
      id: x.InstanceId || '', name: x.InstanceName || x.HostName || '',
      private: [...new Set(priv)], public: [...new Set(pub.filter(Boolean))],
      securityGroups: ((x.SecurityGroupIds || {}).SecurityGroupId) || [],
    };
  }
  async function hosts() {
    const out = [];
    for (let page = 1; page <= 50; page++) {
      const r = await call('DescribeInstances', { PageSize: 100, PageNumber: page }, ECS);
      const list = ((r.Instances || {}).Instance) || [];
      out.push(...list.map(hostFrom));
      if (out.length >= (r.TotalCount || 0) || list.length === 0) break;
    }
    return out;
  }

  async function securityGroups() {
    const out = [];
    for (let page = 1; page <= 50; page++) {
      const r = await call('DescribeSecurityGroups', { PageSize: 50, PageNumber: page }, ECS);
      const list = ((r.SecurityGroups || {}).SecurityGroup) || [];
      out.push(...list);
      if (out.length >= (r.TotalCount || 0) || list.length === 0) break;
    }
    return out;
  }

  async function boundGroups(id) {
    const r = await call('DescribeSecurityGroupConfiguration', { InstanceId: id });
    return ((r.Items || {}).EcsSecurityGroupRelation) || [];
  }

  // ---------------------------------------------------------------------------------------------
  // Fuzzy search: every word of the query must match one of the fields, as a substring (ranked
  // first) or as a subsequence ("web1" finds "web-1").

  function matchScore(word, text) {
    const t = String(text || '').toLowerCase();
    const i = t.indexOf(word);
    if (i >= 0) return 1000 - i;
    let j = 0;
    for (const ch of t) {
      if (ch === word[j]) j++;
      if (j === word.length) return 10;
    }
    return -1;
  }
  function fuzzy(query, fields) {
    const words = query.toLowerCase().split(/\s+/).filter(Boolean);
    let total = 0;
    for (const w of words) {
      const best = Math.max(...fields.map((f) => matchScore(w, f)));
      if (best < 0) return -1;
      total += best;
    }
    return total;
  }
  // highlight marks the query's substring matches in text.
  function highlight(text, query) {
    const words = query.toLowerCase().split(/\s+/).filter(Boolean);
    const lower = text.toLowerCase();
    for (const w of words) {
      const i = lower.indexOf(w);
      if (i >= 0) return [text.slice(0, i), h('mark', {}, text.slice(i, i + w.length)), text.slice(i + w.length)];
    }
    return [text];
  }

  // ---------------------------------------------------------------------------------------------
  // Group names (W2), explained live. The API checks the same rules and has the last word.

  const NAME_RULES = [
    { text: '2 to 32 characters', test: (n) => n.length >= 2 && n.length <= 32 },
    { text: 'only lowercase letters, digits and _', test: (n) => /^[a-z0-9_]+$/.test(n) },
    { text: 'starts with a lowercase letter', test: (n) => /^[a-z]/.test(n) },
    { text: 'ends with a lowercase letter or digit', test: (n) => /[a-z0-9]$/.test(n) },
  ];

  // ---------------------------------------------------------------------------------------------
  // Layout: breadcrumbs, the instance's side navigation, focus on navigation

  let instanceNames = {};

  function setChrome(route, title) {
    clear(crumbs);
    const items = [['#/instances', 'Instances']];
    if (route.id) items.push([`#/i/${route.id}/whitelist`, instanceNames[route.id] ? `${instanceNames[route.id]} (${route.id})` : route.id]);
    if (route.id) items.push([null, title]);
    items.forEach(([href, label], i) => {
      const last = i === items.length - 1;
      crumbs.append(h('li', {}, last ? h('span', { 'aria-current': 'page' }, label) : h('a', { href }, label)));
    });
    clear(side);
    side.append(h('p', { class: 'side-title' }, 'Console'),
      h('ul', {}, h('li', {}, h('a', { href: '#/instances', 'aria-current': route.page === 'instances' ? 'page' : null }, 'Instances'))));
    if (route.id) {
      const link = (page, label) => h('li', {}, h('a', {
        href: `#/i/${route.id}/${page}`,
        'aria-current': (route.page === page || (page === 'whitelist' && route.page === 'security-groups')) ? 'page' : null,
      }, label));
      side.append(h('p', { class: 'side-title' }, 'Instance ', h('span', { class: 'mono' }, route.id)),
        h('ul', {}, link('whitelist', 'Whitelist Settings'), link('check', 'Access check'), link('activity', 'Activity')));
    }
    document.title = (route.id ? `${title} · ${route.id}` : title) + ' · moat console';
  }

  function parseRoute() {
    const m = location.hash.match(/^#\/i\/([a-z0-9-]+)\/([a-z-]+)$/);
    if (m) return { id: m[1], page: m[2] };
    return { page: 'instances' };
  }

  let renderSeq = 0;
  async function render() {
    const seq = ++renderSeq;
    const route = parseRoute();
    const pages = { instances: instancesPage, whitelist: whitelistPage, 'security-groups': whitelistPage, check: checkPage, activity: activityPage };
    const page = pages[route.page] || instancesPage;
    const view = h('div', { class: 'view' });
    try {
      await page(route, view, () => seq === renderSeq);
    } catch (e) {
      append(view, h('p', { class: 'banner bad', role: 'alert' }, e instanceof ApiError ? e.text : String(e)));
    }
    if (seq !== renderSeq) return;
    clear(main).append(view);
    const h1 = main.querySelector('h1');
    if (h1 && !quiet) { h1.setAttribute('tabindex', '-1'); h1.focus(); }
  }
  // refresh re-renders the current page without moving the focus to its heading (after a change in
  // a dialog, the dialog's closing returns the focus to the button that opened it, if still there).
  let quiet = false;
  async function refresh() {
    quiet = true;
    const active = document.activeElement && document.activeElement.id;
    try { await render(); } finally { quiet = false; }
    if (active && document.getElementById(active)) document.getElementById(active).focus();
  }

  // ---------------------------------------------------------------------------------------------
  // Instances

  async function instancesPage(route, view) {
    setChrome(route, 'Instances');
    const list = await instances();
    instanceNames = Object.fromEntries(list.map((x) => [x.InstanceId, x.InstanceName]));
    append(view,
      h('h1', {}, 'Instances'),
      h('p', { class: 'subtitle' }, `${list.length} instance${list.length === 1 ? '' : 's'} this login may see. Pick one to manage its whitelist.`),
      h('table', { id: 'instances' },
        h('caption', {}, 'Instances'),
        h('thead', {}, h('tr', {}, ['Instance ID', 'Name', 'Listen addresses', 'Backend', 'Engine', 'State', 'Actions'].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', {}, list.length === 0
          ? h('tr', {}, h('td', { colspan: 7, class: 'empty' }, 'No instance. Create one with `moat instance create`.'))
          : list.map((x) => h('tr', {},
            h('td', { class: 'nowrap' }, h('a', { href: `#/i/${x.InstanceId}/whitelist`, class: 'mono' }, x.InstanceId)),
            h('td', {}, x.InstanceName || ''),
            h('td', { class: 'mono' }, (x.ListenAddresses || []).join(', ')),
            h('td', { class: 'mono' }, x.Backend || ''),
            h('td', {}, x.EngineVersion ? `Redis ${x.EngineVersion}` : ''),
            h('td', {}, x.InstanceStatus === 'Normal' ? h('span', { class: 'badge ok' }, 'Running') : (x.InstanceStatus || '')),
            h('td', { class: 'actions' }, h('a', { href: `#/i/${x.InstanceId}/whitelist`, 'aria-label': `Manage ${x.InstanceId}` }, 'Manage')))))));
  }

  // ---------------------------------------------------------------------------------------------
  // Whitelist Settings: IP whitelist groups and security groups

  function tabs(route) {
    const tab = (page, label) => h('a', { href: `#/i/${route.id}/${page}`, 'aria-current': route.page === page ? 'page' : null }, label);
    return h('nav', { class: 'tabs', 'aria-label': 'Whitelist kind' }, tab('whitelist', 'IP whitelist'), tab('security-groups', 'Security Groups'));
  }

  async function whitelistPage(route, view) {
    setChrome(route, 'Whitelist Settings');
    const attr = await instanceAttr(route.id);
    instanceNames[route.id] = attr.InstanceName;
    setChrome(route, 'Whitelist Settings');
    append(view,
      h('h1', {}, 'Whitelist Settings'),
      h('p', { class: 'subtitle' }, h('span', { class: 'mono' }, route.id), attr.InstanceName ? ` · ${attr.InstanceName}` : '',
        attr.EngineVersion ? ` · Redis ${attr.EngineVersion}` : '', (attr.ListenAddresses || []).length ? ` · listens on ${(attr.ListenAddresses || []).join(', ')}` : ''),
      tabs(route));
    if (route.page === 'security-groups') return securityGroupsTab(route, view, attr);
    return ipWhitelistTab(route, view);
  }

  async function ipWhitelistTab(route, view) {
    const list = await groups(route.id);
    let bound = [];
    try { bound = await boundGroups(route.id); } catch (e) { /* security groups not available: none bound */ }
    const all = list.flatMap((g) => splitEntries(g.SecurityIpList));
    const onlyLoopback = all.length > 0 && all.every((e) => e === '127.0.0.1') && bound.length === 0;
    const open = all.some(isOpen);
    const names = new Set(list.map((g) => g.SecurityIpGroupName));

    append(view,
      h('p', { class: 'note' }, 'Clients are admitted only from addresses listed here or from hosts in a bound security group. ',
        'Entries are IP addresses or CIDR blocks; 127.0.0.1 alone admits nobody and is ignored as soon as any other entry or security group exists. ',
        'Changes apply to new connections.'),
      onlyLoopback ? h('p', { class: 'banner bad', id: 'state-banner' }, 'Every address is refused: 127.0.0.1 is the only entry. Add a client address to let it in.') : null,
      open ? h('p', { class: 'banner warn', id: 'state-banner' }, '0.0.0.0/0 is listed: every address may connect.') : null,
      h('div', { class: 'toolbar' },
        h('button', { type: 'button', class: 'primary', id: 'add-whitelist', onclick: () => groupDialog({ instance: route.id, names }) }, 'Add Whitelist'),
        h('span', { class: 'spacer' }),
        h('span', { class: 'note' }, `${list.length} group${list.length === 1 ? '' : 's'}, ${all.length} entr${all.length === 1 ? 'y' : 'ies'}`)),
      h('table', { id: 'groups' },
        h('caption', {}, 'Whitelist groups'),
        h('thead', {}, h('tr', {},
          h('th', { scope: 'col' }, 'Group name'), h('th', { scope: 'col' }, 'Whitelist'), h('th', { scope: 'col' }, 'Actions'))),
        h('tbody', {}, list.map((g) => groupRow(route.id, g, names, all)))));
  }

  function groupRow(instance, g, names, all) {
    const name = g.SecurityIpGroupName;
    const entries = splitEntries(g.SecurityIpList);
    const system = isSystem(g);
    const others = all.some((e) => e !== '127.0.0.1');
    const shown = entries.slice(0, 40);
    const chips = h('ul', { class: 'entries', 'aria-label': `Entries of ${name}` }, shown.map((e) => h('li', {
      class: e === '127.0.0.1' && others ? 'void' : isOpen(e) ? 'open' : null,
      title: e === '127.0.0.1' && others ? '127.0.0.1 is void: other entries exist' : null,
    }, e)));
    const more = entries.length > shown.length
      ? h('details', {}, h('summary', {}, `and ${entries.length - shown.length} more`), h('p', { class: 'mono' }, entries.slice(40).join(', ')))
      : null;
    let actions;
    if (system) {
      actions = h('span', { class: 'note' }, 'System group: not modified or deleted here');
    } else {
      actions = [
        h('button', { type: 'button', class: 'link', 'aria-label': `Modify ${name}`, 'data-action': 'modify', onclick: () => groupDialog({ instance, names, group: g }) }, 'Modify'),
        name === 'default' ? null : h('button', { type: 'button', class: 'link danger-link', 'aria-label': `Delete ${name}`, 'data-action': 'delete', onclick: () => deleteGroup(instance, name, entries.length) }, 'Delete'),
      ];
    }
    return h('tr', { 'data-group': name },
      h('th', { scope: 'row' }, h('span', { class: 'mono' }, name),
        name === 'default' ? h('span', { class: 'badge' }, 'default') : null,
        system ? h('span', { class: 'badge system' }, g.SecurityIpGroupAttribute === 'hidden' ? 'hidden · system' : 'system') : null),
      h('td', {}, entries.length ? chips : h('span', { class: 'note' }, 'no entries'), more),
      h('td', { class: 'actions' }, actions));
  }

  // dialog opens a modal <dialog>; it is removed when closed and the focus returns where it was.
  function dialog(opts, ...content) {
    const back = document.activeElement;
    const d = h('dialog', { class: opts.narrow ? 'narrow' : null, 'aria-labelledby': 'dlg-title', id: opts.id || null }, ...content);
    d.addEventListener('close', () => { d.remove(); if (back && back.isConnected) back.focus(); });
    document.body.append(d);
    d.showModal();
    return d;
  }

  // groupDialog is "Add Whitelist" (no group) or "Modify" (group): a name (new groups only), the add
  // method (manual or import of host IPs) and the group's list, saved with ModifySecurityIps, Cover.
  function groupDialog({ instance, names, group }) {
    const adding = !group;
    const current = group ? splitEntries(group.SecurityIpList) : [];
    const nameInput = adding ? h('input', { id: 'group-name', name: 'group-name', autocomplete: 'off', spellcheck: 'false', 'aria-describedby': 'group-name-rules group-name-error', maxlength: 64 }) : null;
    const ruleItems = NAME_RULES.concat([{ text: 'not the name of an existing group', test: (n) => !names.has(n) }]).map((r) => ({ r, li: h('li', {}, r.text) }));
    const nameStatus = h('p', { class: 'visually-hidden', 'aria-live': 'polite', id: 'group-name-status' });
    const nameError = h('p', { class: 'field-error', id: 'group-name-error' });
    const ips = h('textarea', { id: 'group-ips', name: 'group-ips', spellcheck: 'false', 'aria-describedby': 'group-ips-help group-ips-error group-ips-warning' }, current.join(','));
    const count = h('span', { id: 'group-ips-count' });
    const ipsError = h('p', { class: 'field-error', id: 'group-ips-error' });
    const ack = h('input', { type: 'checkbox', id: 'open-ack' });
    const warning = h('div', { class: 'banner warn', id: 'group-ips-warning', hidden: true },
      h('p', {}, h('strong', {}, 'Warning: '), '0.0.0.0/0 allows access from every IP address. This is a high security risk; use it with caution.'),
      h('label', {}, ack, ' I understand: allow every address'));
    const formError = h('p', { class: 'form-error', role: 'alert', id: 'group-form-error' });
    const ok = h('button', { type: 'submit', class: 'primary', id: 'group-ok' }, 'OK');
    const method = h('fieldset', {}, h('legend', {}, 'Add method'), h('div', { class: 'radio-row' },
      h('label', {}, h('input', { type: 'radio', name: 'add-method', value: 'manual', checked: true, id: 'method-manual' }), 'Add manually'),
      h('label', {}, h('input', { type: 'radio', name: 'add-method', value: 'import', id: 'method-import' }), 'Import host internal IP addresses')));
    const importPane = h('div', { id: 'import-pane', hidden: true });
    const panes = h('div', { class: 'two-panes single' }, importPane, h('div', { class: 'field' },
      h('label', { for: 'group-ips' }, 'Whitelist of group'),
      ips,
      h('p', { class: 'help', id: 'group-ips-help' }, 'IP addresses or CIDR blocks, separated by commas (spaces and new lines are turned into commas): ',
        h('code', {}, '10.23.12.24'), ', ', h('code', {}, '10.23.12.0/24'), '. Up to 1,000 entries. ', count),
      ipsError));

    const entries = () => splitEntries(ips.value);
    function update() {
      const list = entries();
      count.textContent = `${list.length} entr${list.length === 1 ? 'y' : 'ies'}${list.length > MAX_ENTRIES ? ' — more than 1,000' : ''}.`;
      const open = list.some(isOpen);
      warning.hidden = !open;
      if (!open) ack.checked = false;
      importPicker && importPicker.sync(new Set(list));
    }
    let statusTimer;
    function checkName() {
      const n = nameInput.value;
      let broken = [];
      for (const { r, li } of ruleItems) {
        const pass = r.test(n);
        li.className = n === '' ? '' : pass ? 'pass' : 'fail';
        if (!pass) broken.push(r.text);
      }
      nameError.textContent = '';
      nameInput.removeAttribute('aria-invalid');
      clearTimeout(statusTimer);
      statusTimer = setTimeout(() => {
        nameStatus.textContent = n === '' ? '' : broken.length ? `The name breaks: ${broken.join('; ')}.` : 'The name is valid.';
      }, 600);
    }

    let importPicker = null;
    method.addEventListener('change', async (ev) => {
      const imp = ev.target.value === 'import';
      importPane.hidden = !imp;
      panes.className = imp ? 'two-panes' : 'two-panes single';
      if (imp && !importPicker) {
        importPicker = hostPicker(importPane, (picked) => {
          const list = entries();
          const have = new Set(list);
          for (const ip of picked) if (!have.has(ip)) list.push(ip);
          ips.value = list.join(',');
          update();
          ips.removeAttribute('aria-invalid');
          ipsError.textContent = '';
        });
        update();
      }
    });

    ips.addEventListener('input', () => { update(); ips.removeAttribute('aria-invalid'); ipsError.textContent = ''; });
    if (nameInput) nameInput.addEventListener('input', checkName);

    const form = h('form', { novalidate: true },
      h('header', {}, h('h2', { id: 'dlg-title' }, adding ? 'Add Whitelist' : `Modify Whitelist of Group: ${group.SecurityIpGroupName}`)),
      h('div', { class: 'body' },
        adding ? h('div', { class: 'field' },
          h('label', { for: 'group-name' }, 'Group name'),
          nameInput,
          h('ul', { class: 'rules', id: 'group-name-rules', 'aria-label': 'Name rules' }, ruleItems.map((x) => x.li)),
          h('p', { class: 'help' }, 'The name cannot be changed after the group is created.'),
          nameStatus, nameError) : null,
        method, panes, warning),
      h('footer', {}, formError, ok, h('button', { type: 'button', onclick: () => d.close() }, 'Cancel')));

    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      // A new attempt: the previous one's errors go (the API says again what is still wrong).
      formError.textContent = '';
      ipsError.textContent = '';
      ips.removeAttribute('aria-invalid');
      if (nameInput) { nameError.textContent = ''; nameInput.removeAttribute('aria-invalid'); }
      const list = entries();
      const name = adding ? nameInput.value : group.SecurityIpGroupName;
      if (adding && names.has(name)) {
        nameError.textContent = `A group named "${name}" exists already: use its Modify button.`;
        nameInput.setAttribute('aria-invalid', 'true');
        nameInput.focus();
        return;
      }
      if (list.some(isOpen) && !ack.checked) {
        formError.textContent = 'Confirm that every address may connect (the checkbox in the warning), or remove 0.0.0.0/0.';
        ack.focus();
        return;
      }
      ok.disabled = true;
      try {
        const r = await call('ModifySecurityIps', {
          InstanceId: instance, SecurityIpGroupName: name, ModifyMode: 'Cover', SecurityIps: list.join(','),
        });
        d.close();
        toast(`Whitelist group "${name}" saved.`);
        for (const w of r.MoatWarnings || []) toast(w, 'warn');
        await refresh();
      } catch (e) {
        showApiError(e, { name: adding ? [nameInput, nameError] : null, ips: [ips, ipsError], form: formError });
      } finally {
        ok.disabled = false;
      }
    });

    const d = dialog({ id: 'group-dialog' }, form);
    update();
    (nameInput || ips).focus();
  }

  // The field an API error concerns, by the whole first part of its code (the part before the dot):
  // InvalidSecurityIPGroupName.NotFound is about the group name, InvalidSecurityIPList.Format and
  // InvalidSecurityIPs.NotFound about the list. A MissingParameter error names the parameter.
  const FIELD_OF_CODE = {
    InvalidGroupName: 'name', InvalidSecurityIPGroupName: 'name', InvalidSecurityIpGroupName: 'name',
    InvalidSecurityIPList: 'ips', InvalidSecurityIpList: 'ips', InvalidSecurityIPs: 'ips', InvalidSecurityIps: 'ips',
    InvalidSourceIp: 'ips',
  };
  const FIELD_OF_PARAM = { SecurityIpGroupName: 'name', SecurityIps: 'ips', SourceIp: 'ips' };
  function fieldOf(e) {
    const kind = String(e.code || '').split('.')[0];
    if (Object.hasOwn(FIELD_OF_CODE, kind)) return FIELD_OF_CODE[kind];
    if (kind === 'MissingParameter') {
      const m = /parameter "([A-Za-z]+)"/.exec(e.message || ''); // The input parameter "SecurityIps" that is mandatory…
      if (m && Object.hasOwn(FIELD_OF_PARAM, m[1])) return FIELD_OF_PARAM[m[1]];
    }
    return null;
  }

  // showApiError puts an API error next to the field it concerns (fieldOf), or on the form when that
  // field is not in the form (a Modify has no name field) or the error concerns no field.
  function showApiError(e, fields) {
    const field = fieldOf(e);
    const target = field ? fields[field] : null;
    if (target) {
      const [input, out] = target;
      out.textContent = e.text;
      input.setAttribute('aria-invalid', 'true');
      input.focus();
      return;
    }
    fields.form.textContent = e.text;
  }

  // hostPicker lists every registered host's internal IPs with fuzzy search by name, ID or IP and
  // multi-select; "Add selected" moves the chosen addresses into the group's list.
  function hostPicker(pane, onAdd) {
    const search = h('input', { type: 'search', id: 'host-search', placeholder: 'Name, ID or IP', 'aria-describedby': 'host-count', autocomplete: 'off' });
    const listEl = h('ul', { id: 'host-list', 'aria-label': 'Host internal IP addresses' });
    const countEl = h('span', { id: 'host-count', 'aria-live': 'polite' }, 'Loading hosts…');
    const addBtn = h('button', { type: 'button', id: 'host-add', class: 'small', disabled: true }, 'Add selected →');
    let rows = [];
    let inList = new Set();
    let failed = null;
    const picked = new Set();

    append(pane, h('div', { class: 'picker' },
      h('div', { class: 'picker-head' }, h('label', { for: 'host-search', class: 'label' }, 'Hosts — search by name, ID or IP'), search),
      listEl,
      h('div', { class: 'picker-foot' }, countEl, addBtn)));

    function draw() {
      clear(listEl);
      if (failed) { listEl.append(h('li', { class: 'picker-empty' }, failed)); countEl.textContent = ''; return; }
      const q = search.value.trim();
      const shown = rows.map((r) => ({ r, s: q ? fuzzy(q, [r.ip, r.host.name, r.host.id]) : 0 }))
        .filter((x) => x.s >= 0).sort((a, b) => b.s - a.s).map((x) => x.r);
      for (const r of shown) {
        const already = inList.has(r.ip);
        const cb = h('input', { type: 'checkbox', value: r.ip, checked: already || picked.has(r.ip), disabled: already, 'data-host': r.host.id });
        cb.addEventListener('change', () => { cb.checked ? picked.add(r.ip) : picked.delete(r.ip); addBtn.disabled = picked.size === 0; });
        listEl.append(h('li', {}, h('label', { title: `Host ${r.host.id}${r.host.name ? ' · ' + r.host.name : ''}` },
          cb, h('span', { class: 'mono' }, highlight(r.ip, q)),
          h('span', { class: 'sub' }, highlight(r.host.name || '(no name)', q), ' · ', highlight(r.host.id, q), already ? ' · in the list' : ''))));
      }
      if (rows.length === 0) listEl.append(h('li', { class: 'picker-empty' }, 'No host is registered. Register hosts with `moat host add`.'));
      else if (shown.length === 0) listEl.append(h('li', { class: 'picker-empty' }, `No host matches "${q}".`));
      countEl.textContent = `${shown.length} of ${rows.length} addresses shown, ${picked.size} selected`;
    }
    search.addEventListener('input', draw);
    addBtn.addEventListener('click', () => {
      onAdd([...picked]);
      picked.clear();
      addBtn.disabled = true;
      draw();
      search.focus();
    });
    hosts().then((list) => {
      rows = list.flatMap((host) => host.private.map((ip) => ({ ip, host })));
      draw();
    }).catch((e) => {
      failed = e.notAvailable
        ? 'Hosts are not available in this moat yet: it does not answer the ECS DescribeInstances action.'
        : `Could not load hosts: ${e.text}`;
      draw();
    });
    return { sync(set) { inList = set; for (const ip of set) picked.delete(ip); draw(); } };
  }

  function confirmDialog({ title, text, action, danger, onConfirm }) {
    const err = h('p', { class: 'form-error', role: 'alert' });
    const btn = h('button', { type: 'submit', class: danger ? 'danger' : 'primary', id: 'confirm-ok' }, action);
    const form = h('form', {},
      h('header', {}, h('h2', { id: 'dlg-title' }, title)),
      h('div', { class: 'body' }, text.map((t) => h('p', {}, t))),
      h('footer', {}, err, btn, h('button', { type: 'button', onclick: () => d.close() }, 'Cancel')));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      btn.disabled = true;
      try { await onConfirm(); d.close(); } catch (e) { err.textContent = e.text || String(e); } finally { btn.disabled = false; }
    });
    const d = dialog({ narrow: true, id: 'confirm-dialog' }, form);
    btn.focus();
    return d;
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

  // Security groups ------------------------------------------------------------------------------

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

  async function securityGroupsTab(route, view, attr) {
    const explain = 'Every private and public IP of every host in a bound security group may connect. A security group\'s own rules do not apply to the instance. ' +
      'Up to 10 security groups per instance; security groups need Redis 4.0 or later and are not supported by cloud-native cluster and read/write splitting instances.';
    let bound;
    try {
      bound = await boundGroups(route.id);
    } catch (e) {
      if (!e.notAvailable) throw e;
      append(view, h('p', { class: 'note' }, explain),
        h('div', { class: 'banner info', id: 'sg-unavailable', role: 'status' },
          h('strong', {}, 'Security groups are not available in this moat yet. '),
          `It does not answer DescribeSecurityGroupConfiguration (${e.code}). Use the IP whitelist meanwhile.`));
      return;
    }
    let all = [];
    let listError = '';
    try { all = await securityGroups(); } catch (e) { listError = e.text; }
    const byId = Object.fromEntries(all.map((g) => [g.SecurityGroupId, g]));
    const ids = bound.map((b) => b.SecurityGroupId);
    const restriction = sgRestriction(attr);
    append(view,
      h('p', { class: 'note' }, explain),
      restriction ? h('p', { class: 'banner warn', id: 'sg-restriction' }, restriction) : null,
      listError ? h('p', { class: 'banner bad' }, `Could not list security groups: ${listError}`) : null,
      h('div', { class: 'toolbar' },
        h('button', {
          type: 'button', class: 'primary', id: 'add-sg', disabled: !!restriction || ids.length >= MAX_SECURITY_GROUPS,
          onclick: () => addSecurityGroupDialog(route.id, ids, all),
        }, 'Add Security Group'),
        h('span', { class: 'spacer' }),
        h('span', { class: 'note', id: 'sg-count' }, `${ids.length} of ${MAX_SECURITY_GROUPS} security groups bound`)),
      h('table', { id: 'security-groups' },
        h('caption', {}, 'Security groups bound to this instance'),
        h('thead', {}, h('tr', {}, ['Security group ID', 'Name', 'VPC', 'Network', 'Hosts', 'Actions'].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', {}, bound.length === 0
          ? h('tr', {}, h('td', { colspan: 6, class: 'empty' }, 'No security group is bound.'))
          : bound.map((b) => {
            const g = byId[b.SecurityGroupId] || {};
            return h('tr', { 'data-sg': b.SecurityGroupId },
              h('td', { class: 'mono' }, b.SecurityGroupId),
              h('td', {}, g.SecurityGroupName || ''),
              h('td', { class: 'mono' }, g.VpcId || ''),
              h('td', {}, b.NetType || ''),
              h('td', { class: 'num' }, g.EcsCount === undefined ? '' : String(g.EcsCount)),
              h('td', { class: 'actions' }, h('button', {
                type: 'button', class: 'link danger-link', 'aria-label': `Delete ${b.SecurityGroupId}`,
                onclick: () => confirmDialog({
                  title: `Remove security group ${b.SecurityGroupId}?`, action: 'Delete', danger: true,
                  text: ['Its hosts will no longer be admitted by this security group (new connections).'],
                  onConfirm: async () => {
                    await call('ModifySecurityGroupConfiguration', { DBInstanceId: route.id, SecurityGroupId: ids.filter((x) => x !== b.SecurityGroupId).join(',') });
                    toast(`Security group ${b.SecurityGroupId} removed.`);
                    await refresh();
                  },
                }),
              }, 'Delete')));
          }))));
  }

  function addSecurityGroupDialog(instance, boundIds, all) {
    const room = MAX_SECURITY_GROUPS - boundIds.length;
    const picked = new Set();
    const search = h('input', { type: 'search', id: 'sg-search', placeholder: 'Security group name or ID', autocomplete: 'off', 'aria-describedby': 'sg-picker-count' });
    const listEl = h('ul', { id: 'sg-list', 'aria-label': 'Security groups' });
    const countEl = h('span', { id: 'sg-picker-count', 'aria-live': 'polite' });
    const err = h('p', { class: 'form-error', role: 'alert' });
    const ok = h('button', { type: 'submit', class: 'primary', id: 'sg-ok', disabled: true }, 'OK');
    const candidates = all.filter((g) => !boundIds.includes(g.SecurityGroupId));
    function draw() {
      clear(listEl);
      const q = search.value.trim();
      const shown = candidates.map((g) => ({ g, s: q ? fuzzy(q, [g.SecurityGroupName, g.SecurityGroupId]) : 0 }))
        .filter((x) => x.s >= 0).sort((a, b) => b.s - a.s).map((x) => x.g);
      for (const g of shown) {
        const cb = h('input', { type: 'checkbox', value: g.SecurityGroupId, checked: picked.has(g.SecurityGroupId), disabled: !picked.has(g.SecurityGroupId) && picked.size >= room });
        cb.addEventListener('change', () => { cb.checked ? picked.add(g.SecurityGroupId) : picked.delete(g.SecurityGroupId); ok.disabled = picked.size === 0; draw(); });
        listEl.append(h('li', {}, h('label', {}, cb, h('span', {}, highlight(g.SecurityGroupName || '(no name)', q)),
          h('span', { class: 'sub mono' }, highlight(g.SecurityGroupId, q), g.VpcId ? ` · ${g.VpcId}` : '',
            g.EcsCount === undefined ? '' : ` · ${g.EcsCount} host${g.EcsCount === 1 ? '' : 's'}`))));
      }
      if (candidates.length === 0) listEl.append(h('li', { class: 'picker-empty' }, 'Every security group is bound already, or none exists (`moat sg create`).'));
      else if (shown.length === 0) listEl.append(h('li', { class: 'picker-empty' }, `No security group matches "${q}".`));
      countEl.textContent = `${picked.size} selected; ${room} more can be bound (at most ${MAX_SECURITY_GROUPS} per instance)`;
    }
    search.addEventListener('input', draw);
    const form = h('form', {},
      h('header', {}, h('h2', { id: 'dlg-title' }, 'Add Security Group')),
      h('div', { class: 'body' },
        h('div', { class: 'picker' },
          h('div', { class: 'picker-head' }, h('label', { for: 'sg-search', class: 'label' }, 'Search by security group name or ID'), search),
          listEl,
          h('div', { class: 'picker-foot' }, countEl))),
      h('footer', {}, err, ok, h('button', { type: 'button', onclick: () => d.close() }, 'Cancel')));
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

  // ---------------------------------------------------------------------------------------------
  // Access check (CheckAccess: the dry run)

  async function checkPage(route, view) {
    setChrome(route, 'Access check');
    const src = h('input', { id: 'check-ip', name: 'check-ip', required: true, spellcheck: 'false', autocomplete: 'off', 'aria-describedby': 'check-ip-error', placeholder: '10.0.0.5' });
    const user = h('input', { id: 'check-user', name: 'check-user', spellcheck: 'false', autocomplete: 'off', placeholder: 'optional' });
    const srcError = h('p', { class: 'field-error', id: 'check-ip-error' });
    const result = h('div', { class: 'verdict', id: 'verdict', 'aria-live': 'polite' }, h('p', { class: 'note' }, 'The answer appears here.'));
    const btn = h('button', { type: 'submit', class: 'primary', id: 'check-go' }, 'Check');
    const form = h('form', { class: 'inline-form', novalidate: true },
      h('div', { class: 'field' }, h('label', { for: 'check-ip' }, 'Source address'), src, srcError),
      h('div', { class: 'field' }, h('label', { for: 'check-user' }, 'User (optional)'), user, h('p', { class: 'field-error' })),
      h('div', { class: 'field' }, btn, h('p', { class: 'field-error' })));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      srcError.textContent = '';
      src.removeAttribute('aria-invalid');
      btn.disabled = true;
      try {
        const params = { InstanceId: route.id, SourceIp: src.value.trim() };
        if (user.value.trim()) params.UserName = user.value.trim();
        const r = await call('CheckAccess', params);
        clear(result);
        result.className = 'verdict ' + (r.Allowed ? 'allowed' : 'refused');
        append(result,
          h('p', { class: 'big', id: 'verdict-word' }, r.Allowed ? `Allowed: ${r.SourceIp} may connect` : `Refused: ${r.SourceIp} may not connect`),
          h('p', { id: 'verdict-reason' }, r.Reason),
          (r.Matches || []).length ? h('table', {},
            h('caption', {}, 'Everything that admits this address'),
            h('thead', {}, h('tr', {}, ['Group', 'Entry', 'Security group', 'Host'].map((t) => h('th', { scope: 'col' }, t)))),
            h('tbody', {}, r.Matches.map((m) => h('tr', {}, h('td', { class: 'mono' }, m.Group || ''), h('td', { class: 'mono' }, m.Entry || ''),
              h('td', { class: 'mono' }, m.SecurityGroup || ''), h('td', { class: 'mono' }, m.Host || ''))))) : null,
          r.User ? h('p', { id: 'verdict-user' },
            `User ${r.User.UserName}: ${r.User.Allowed ? 'may log in from here' : 'may not log in from here'} — ${r.User.Reason}`) : null);
      } catch (e) {
        showApiError(e, { ips: [src, srcError], form: srcError });
        clear(result).append(h('p', { class: 'note' }, 'No answer.'));
        result.className = 'verdict';
      } finally {
        btn.disabled = false;
      }
    });
    append(view,
      h('h1', {}, 'Access check'),
      h('p', { class: 'subtitle' }, 'Would a client from this address be allowed to connect to ', h('span', { class: 'mono' }, route.id),
        '? moat answers from the same compiled allow set its listeners use, without opening a connection.'),
      form, result);
  }

  // ---------------------------------------------------------------------------------------------
  // Activity: refused connections, a chart of refusals per minute, and the audit log

  const REASONS = {
    illegal_address: 'not whitelisted (ERR illegal address)',
    backend_unavailable: 'backend unavailable',
    revoked: 'closed: no longer allowed (drop-on-revoke)',
    protocol_error: 'protocol error',
    protected_mode: 'protected mode (DENIED: no password set, not loopback)',
    max_clients: 'too many clients (maxclients)',
    tls_handshake: 'TLS handshake failed',
  };

  function chart(timeline) {
    const counts = timeline.Counts || [];
    const W = 600, H = 150, left = 34, bottom = 20, top = 10;
    const max = Math.max(1, ...counts);
    const total = counts.reduce((a, b) => a + b, 0);
    const start = new Date(timeline.Start);
    const bucket = (timeline.BucketSeconds || 60) * 1000;
    let peakAt = 0;
    counts.forEach((n, i) => { if (n > counts[peakAt]) peakAt = i; });
    const peakTime = fmtTime(new Date(start.getTime() + peakAt * bucket).toISOString()).slice(11, 16);
    const summary = total === 0
      ? 'No refused connection in the last hour.'
      : `${total} refused connection${total === 1 ? '' : 's'} in the last hour; at most ${counts[peakAt]} in one minute (${peakTime}).`;
    const svg = h('svg:svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-labelledby': 'chart-title chart-desc', preserveAspectRatio: 'none', id: 'refusal-chart' },
      h('svg:title', { id: 'chart-title' }, 'Refused connections per minute, last hour'),
      h('svg:desc', { id: 'chart-desc' }, summary));
    const plotW = W - left - 4, plotH = H - top - bottom;
    const bw = plotW / Math.max(1, counts.length);
    counts.forEach((n, i) => {
      const bh = n === 0 ? 1 : Math.max(2, (n / max) * plotH);
      const t = new Date(start.getTime() + i * bucket);
      svg.append(h('svg:rect', { class: n === 0 ? 'bar zero' : 'bar', x: (left + i * bw + 1).toFixed(1), y: (top + plotH - bh).toFixed(1), width: Math.max(1, bw - 2).toFixed(1), height: bh.toFixed(1) },
        h('svg:title', {}, `${fmtTime(t.toISOString()).slice(11, 16)}: ${n} refused`)));
    });
    svg.append(
      h('svg:line', { class: 'axis', x1: left, y1: top + plotH + 0.5, x2: W - 4, y2: top + plotH + 0.5 }),
      h('svg:line', { class: 'axis', x1: left - 0.5, y1: top, x2: left - 0.5, y2: top + plotH }),
      h('svg:text', { x: left - 6, y: top + 9, 'text-anchor': 'end' }, String(max)),
      h('svg:text', { x: left - 6, y: top + plotH, 'text-anchor': 'end' }, '0'),
      h('svg:text', { x: left, y: H - 4 }, '60 min ago'),
      h('svg:text', { x: left + plotW / 2, y: H - 4, 'text-anchor': 'middle' }, '30 min ago'),
      h('svg:text', { x: W - 4, y: H - 4, 'text-anchor': 'end' }, 'now'));
    return h('figure', { class: 'chart' }, svg, h('figcaption', { class: 'summary', id: 'chart-summary' }, summary));
  }

  // changes summarises an audit entry's before → after for people: groups and entries added and
  // removed, parameters changed, anything else named.
  function changes(before, after) {
    const out = [];
    const groupsOf = (x) => Object.fromEntries(((x && x.groups) || []).map((g) => [g.name, (g.entries || []).map((e) => e.replace(/\/(32|128)$/, ''))]));
    if (before || after) {
      const b = groupsOf(before), a = groupsOf(after);
      for (const name of new Set([...Object.keys(b), ...Object.keys(a)])) {
        if (!(name in b)) out.push(`group ${name} created: ${a[name].join(', ')}`);
        else if (!(name in a)) out.push(`group ${name} deleted (had ${b[name].join(', ')})`);
        else {
          const added = a[name].filter((e) => !b[name].includes(e));
          const removed = b[name].filter((e) => !a[name].includes(e));
          if (added.length || removed.length) out.push(`group ${name}: ${added.map((e) => '+' + e).concat(removed.map((e) => '−' + e)).join(', ')}`);
        }
      }
      const pb = (before && before.params) || {}, pa = (after && after.params) || {};
      for (const k of new Set([...Object.keys(pb), ...Object.keys(pa)])) {
        if (pb[k] !== pa[k]) out.push(`parameter ${k}: ${pb[k] === undefined ? 'default' : pb[k]} → ${pa[k] === undefined ? 'default' : pa[k]}`);
      }
      if (before && after) {
        for (const k of new Set([...Object.keys(before), ...Object.keys(after)])) {
          if (k === 'groups' || k === 'params') continue;
          const b = before[k], a = after[k];
          if (JSON.stringify(b) === JSON.stringify(a)) continue;
          const strings = (x) => x === undefined || x === null || (Array.isArray(x) && x.every((e) => typeof e === 'string'));
          if (strings(b) && strings(a)) { // e.g. security_groups: the IDs bound and unbound
            const bs = b || [], as = a || [];
            const diff = as.filter((e) => !bs.includes(e)).map((e) => '+' + e).concat(bs.filter((e) => !as.includes(e)).map((e) => '−' + e));
            out.push(`${k.replace(/_/g, ' ')}: ${diff.join(', ') || 'reordered'}`);
          } else {
            out.push(`${k.replace(/_/g, ' ')} changed`);
          }
        }
      } else if (!before && after && !after.groups) out.push('created');
    }
    return out;
  }

  async function activityPage(route, view) {
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
      h('h2', {}, 'Refused connections'));
    if (ref.error) {
      append(view, h('p', { class: 'banner bad' }, ref.error.text));
    } else {
      const list = ((ref.RefusedConnections || {}).RefusedConnection) || [];
      append(view,
        chart(ref.Timeline || { Counts: [] }),
        h('table', { id: 'refusals' },
          h('caption', {}, `Recent refused connections: ${list.length} address${list.length === 1 ? '' : 'es'}, ${ref.TotalRefused || 0} refusals since start`),
          h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Address'), h('th', { scope: 'col' }, 'Reason'), h('th', { scope: 'col', class: 'num' }, 'Count'),
            h('th', { scope: 'col' }, 'Last seen'), h('th', { scope: 'col' }, 'First seen'))),
          h('tbody', {}, list.length === 0
            ? h('tr', {}, h('td', { colspan: 5, class: 'empty' }, 'No connection has been refused since moat started.'))
            : list.slice(0, 200).map((x) => h('tr', {},
              h('td', { class: 'mono' }, x.Address), h('td', {}, REASONS[x.Reason] || x.Reason), h('td', { class: 'num' }, String(x.Count)),
              h('td', {}, fmtTime(x.LastSeen)), h('td', {}, fmtTime(x.FirstSeen)))))));
    }
    append(view, h('h2', {}, 'Audit log'));
    if (audit.error) {
      append(view, h('p', { class: 'banner bad' }, audit.error.text));
    } else {
      auditTable(view, ((audit.AuditLogs || {}).AuditLog) || []);
    }
    append(view, h('h2', {}, 'Failed and denied calls'));
    if (failed.error) {
      append(view, h('p', { class: 'banner bad' }, failed.error.text));
    } else {
      failedTable(view, ((failed.AuditLogs || {}).AuditLog) || []);
    }
  }

  // errorLines splits a failed call's error, which may hold several (errors.Join: one a line).
  const errorLines = (err) => String(err || '').split('\n').map((l) => l.trim()).filter(Boolean);

  function auditTable(view, entries) {
    append(view, h('table', { id: 'audit' },
      h('caption', {}, `The last ${entries.length} entries for this instance, newest first`),
      h('thead', {}, h('tr', {}, ['Time', 'Action', 'Who', 'Result', 'Change'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, entries.length === 0
        ? h('tr', {}, h('td', { colspan: 5, class: 'empty' }, 'No audited call for this instance yet.'))
        : entries.map((e) => {
          const lines = e.error ? errorLines(e.error) : changes(e.before, e.after);
          return h('tr', { 'data-seq': e.seq },
            h('td', {}, fmtTime(e.time)),
            h('td', { class: 'mono' }, e.action),
            h('td', {}, h('span', { class: 'mono nowrap' }, e.key_id), e.source ? h('span', { class: 'note' }, ` from ${e.source}`) : null),
            h('td', {}, h('span', { class: 'badge ' + (e.result === 'ok' ? 'ok' : 'bad') }, e.result)),
            h('td', {}, lines.length ? h('ul', { class: 'changes' }, lines.map((l) => h('li', {}, l))) : null,
              (e.before || e.after) ? h('details', { class: 'diff' }, h('summary', {}, 'before → after'),
                h('pre', {}, 'before: ' + JSON.stringify(e.before || null, null, 1) + '\nafter: ' + JSON.stringify(e.after || null, null, 1))) : null));
        }))));
  }

  // failedTable lists the failed and denied calls: one row per key, action and result, with its count.
  function failedTable(view, entries) {
    append(view, h('table', { id: 'failed-calls' },
      h('caption', {}, `Failed and denied calls on this instance: ${entries.length} kind${entries.length === 1 ? '' : 's'}, most recently seen first`),
      h('thead', {}, h('tr', {}, ['Last seen', 'Action', 'Who', 'Result', 'Count', 'Error'].map((t) => h('th', { scope: 'col', class: t === 'Count' ? 'num' : null }, t)))),
      h('tbody', {}, entries.length === 0
        ? h('tr', {}, h('td', { colspan: 6, class: 'empty' }, 'No failed or denied call for this instance.'))
        : entries.map((e) => {
          const lines = errorLines(e.error);
          return h('tr', { 'data-seq': e.seq },
            h('td', {}, fmtTime(e.time), e.count > 1 ? h('span', { class: 'note' }, ` since ${fmtTime(e.first_seen)}`) : null),
            h('td', { class: 'mono' }, e.action),
            h('td', {}, h('span', { class: 'mono nowrap' }, e.key_id), e.source ? h('span', { class: 'note' }, ` from ${e.source}`) : null),
            h('td', {}, h('span', { class: 'badge bad' }, e.result)),
            h('td', { class: 'num' }, String(e.count)),
            h('td', {}, lines.length ? h('ul', { class: 'changes' }, lines.map((l) => h('li', {}, l))) : null));
        }))));
  }

  window.addEventListener('hashchange', () => { clearToasts(); render(); });
  if (!location.hash) history.replaceState(null, '', '#/instances');
  render();
})();
