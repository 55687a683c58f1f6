// groupdialog.js owns the whitelist group dialog: "Add Whitelist" (a new group: its name, explained
// live against the naming rules) and "Modify" (an existing group's list). Either way the list is
// typed or imported from the hosts' internal IPs (hostpicker.js), and saved with ModifySecurityIps,
// Cover. The API checks the same rules and has the last word.
import { h } from './dom.js';
import { call } from './api.js';
import { refresh } from './frame.js';
import { toast } from './toast.js';
import { dialog, cancelButton } from './dialog.js';
import { showApiError } from './forms.js';
import { splitEntries, isOpen, MAX_ENTRIES } from './entries.js';
import { hostPicker } from './hostpicker.js';

// Group names (W2).
const NAME_RULES = [
  { text: '2 to 32 characters', test: (n) => n.length >= 2 && n.length <= 32 },
  { text: 'only lowercase letters, digits and _', test: (n) => /^[a-z0-9_]+$/.test(n) },
  { text: 'starts with a lowercase letter', test: (n) => /^[a-z]/.test(n) },
  { text: 'ends with a lowercase letter or digit', test: (n) => /[a-z0-9]$/.test(n) },
];

// groupDialog opens "Add Whitelist" (no group) or "Modify" (group) for the instance; names are the
// instance's group names.
export function groupDialog({ instance, names, group }) {
  const name = group ? null : nameField(names);
  const ips = ipsField(group ? splitEntries(group.SecurityIpList) : []);
  const method = methodField(ips);
  const formError = h('p', { class: 'form-error', role: 'alert', id: 'group-form-error' });
  const ok = h('button', { type: 'submit', class: 'primary', id: 'group-ok' }, 'OK');
  const form = h('form', { novalidate: true },
    h('header', {}, h('h2', { id: 'dlg-title' }, group ? `Modify Whitelist of Group: ${group.SecurityIpGroupName}` : 'Add Whitelist')),
    h('div', { class: 'body' }, name ? name.el : null, method.el, method.panes, ips.warning),
    h('footer', {}, formError, ok, cancelButton()));
  const fields = { instance, names, group, name, ips, formError, ok };
  form.addEventListener('submit', (ev) => { ev.preventDefault(); save(fields, d); });
  const d = dialog({ id: 'group-dialog' }, form);
  ips.update();
  (name ? name.input : ips.input).focus();
}

// save checks what the API cannot (the group exists already; 0.0.0.0/0 not confirmed), then saves the
// list; the API's error goes next to the field it concerns.
async function save({ instance, names, group, name, ips, formError, ok }, d) {
  // A new attempt: the previous one's errors go (the API says again what is still wrong).
  formError.textContent = '';
  ips.clearError();
  if (name) name.clearError();
  const list = ips.entries();
  const groupName = name ? name.input.value : group.SecurityIpGroupName;
  if (name && names.has(groupName)) {
    name.refuse(`A group named "${groupName}" exists already: use its Modify button.`);
    return;
  }
  if (list.some(isOpen) && !ips.ack.checked) {
    formError.textContent = 'Confirm that every address may connect (the checkbox in the warning), or remove 0.0.0.0/0.';
    ips.ack.focus();
    return;
  }
  ok.disabled = true;
  try {
    const r = await call('ModifySecurityIps', {
      InstanceId: instance, SecurityIpGroupName: groupName, ModifyMode: 'Cover', SecurityIps: list.join(','),
    });
    d.close();
    toast(`Whitelist group "${groupName}" saved.`);
    for (const w of r.MoatWarnings || []) toast(w, 'warn');
    await refresh();
  } catch (e) {
    showApiError(e, { name: name ? [name.input, name.error] : null, ips: [ips.input, ips.error], form: formError });
  } finally {
    ok.disabled = false;
  }
}

// nameField is a new group's name, with the rules it must follow marked pass or fail as it is typed
// (and said to screen readers once typing pauses).
function nameField(names) {
  const input = h('input', { id: 'group-name', name: 'group-name', autocomplete: 'off', spellcheck: 'false', 'aria-describedby': 'group-name-rules group-name-error', maxlength: 64 });
  const rules = NAME_RULES.concat([{ text: 'not the name of an existing group', test: (n) => !names.has(n) }]).map((r) => ({ r, li: h('li', {}, r.text) }));
  const status = h('p', { class: 'visually-hidden', 'aria-live': 'polite', id: 'group-name-status' });
  const error = h('p', { class: 'field-error', id: 'group-name-error' });
  const clearError = () => { error.textContent = ''; input.removeAttribute('aria-invalid'); };
  let statusTimer;
  input.addEventListener('input', () => {
    const n = input.value;
    const broken = [];
    for (const { r, li } of rules) {
      const pass = r.test(n);
      li.className = n === '' ? '' : pass ? 'pass' : 'fail';
      if (!pass) broken.push(r.text);
    }
    clearError();
    clearTimeout(statusTimer);
    statusTimer = setTimeout(() => {
      status.textContent = n === '' ? '' : broken.length ? `The name breaks: ${broken.join('; ')}.` : 'The name is valid.';
    }, 600);
  });
  const el = h('div', { class: 'field' },
    h('label', { for: 'group-name' }, 'Group name'),
    input,
    h('ul', { class: 'rules', id: 'group-name-rules', 'aria-label': 'Name rules' }, rules.map((x) => x.li)),
    h('p', { class: 'help' }, 'The name cannot be changed after the group is created.'),
    status, error);
  const refuse = (msg) => { error.textContent = msg; input.setAttribute('aria-invalid', 'true'); input.focus(); };
  return { el, input, error, clearError, refuse };
}

// ipsField is the group's list (starting with current), its entry count, and the warning (with its
// acknowledgement) shown while the list admits every address. attach links an import picker, which
// update then tells which addresses are listed.
function ipsField(current) {
  const input = h('textarea', { id: 'group-ips', name: 'group-ips', spellcheck: 'false', 'aria-describedby': 'group-ips-help group-ips-error group-ips-warning' }, current.join(','));
  const count = h('span', { id: 'group-ips-count' });
  const error = h('p', { class: 'field-error', id: 'group-ips-error' });
  const ack = h('input', { type: 'checkbox', id: 'open-ack' });
  const warning = h('div', { class: 'banner warn', id: 'group-ips-warning', hidden: true },
    h('p', {}, h('strong', {}, 'Warning: '), '0.0.0.0/0 allows access from every IP address. This is a high security risk; use it with caution.'),
    h('label', {}, ack, ' I understand: allow every address'));
  const el = h('div', { class: 'field' },
    h('label', { for: 'group-ips' }, 'Whitelist of group'),
    input,
    h('p', { class: 'help', id: 'group-ips-help' }, 'IP addresses or CIDR blocks, separated by commas (spaces and new lines are turned into commas): ',
      h('code', {}, '10.23.12.24'), ', ', h('code', {}, '10.23.12.0/24'), '. Up to 1,000 entries. ', count),
    error);
  let picker = null;
  const f = {
    el, input, error, ack, warning,
    entries: () => splitEntries(input.value),
    clearError() { input.removeAttribute('aria-invalid'); error.textContent = ''; },
    attach(p) { picker = p; },
    update() {
      const list = f.entries();
      count.textContent = `${list.length} entr${list.length === 1 ? 'y' : 'ies'}${list.length > MAX_ENTRIES ? ' — more than 1,000' : ''}.`;
      const open = list.some(isOpen);
      warning.hidden = !open;
      if (!open) ack.checked = false;
      if (picker) picker.sync(new Set(list));
    },
  };
  input.addEventListener('input', () => { f.update(); f.clearError(); });
  return f;
}

// methodField chooses how addresses are added: typed into the list, or imported from the hosts'
// internal IPs (the picker opens beside the list the first time it is chosen).
function methodField(ips) {
  const el = h('fieldset', {}, h('legend', {}, 'Add method'), h('div', { class: 'radio-row' },
    h('label', {}, h('input', { type: 'radio', name: 'add-method', value: 'manual', checked: true, id: 'method-manual' }), 'Add manually'),
    h('label', {}, h('input', { type: 'radio', name: 'add-method', value: 'import', id: 'method-import' }), 'Import host internal IP addresses')));
  const importPane = h('div', { id: 'import-pane', hidden: true });
  const panes = h('div', { class: 'two-panes single' }, importPane, ips.el);
  let opened = false;
  el.addEventListener('change', (ev) => {
    const imp = ev.target.value === 'import';
    importPane.hidden = !imp;
    panes.className = imp ? 'two-panes' : 'two-panes single';
    if (!imp || opened) return;
    opened = true;
    ips.attach(hostPicker(importPane, (picked) => addImported(ips, picked)));
    ips.update();
  });
  return { el, panes };
}

// addImported appends the picked addresses that are not listed yet to the list.
function addImported(ips, picked) {
  const list = ips.entries();
  const have = new Set(list);
  for (const ip of picked) if (!have.has(ip)) list.push(ip);
  ips.input.value = list.join(',');
  ips.update();
  ips.clearError();
}
