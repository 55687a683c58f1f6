// hostpicker.js owns "Import host internal IP addresses": every registered host's internal IPs,
// found by fuzzy search on name, ID or IP, picked several at a time; "Add selected" hands the chosen
// addresses to the group's list.
import { h, append, clear } from './dom.js';
import { hosts } from './api.js';
import { rank, highlight } from './fuzzy.js';

// hostPicker fills pane with the picker and loads the hosts; onAdd receives the picked addresses.
// It returns { sync(set) }: set is what the group's list holds now (shown as "in the list").
export function hostPicker(pane, onAdd) {
  const search = h('input', { type: 'search', id: 'host-search', placeholder: 'Name, ID or IP', 'aria-describedby': 'host-count', autocomplete: 'off' });
  const listEl = h('ul', { id: 'host-list', 'aria-label': 'Host internal IP addresses' });
  const countEl = h('span', { id: 'host-count', 'aria-live': 'polite' }, 'Loading hosts…');
  const addBtn = h('button', { type: 'button', id: 'host-add', class: 'small', disabled: true }, 'Add selected →');
  const state = { rows: [], inList: new Set(), failed: null, picked: new Set() };
  append(pane, h('div', { class: 'picker' },
    h('div', { class: 'picker-head' }, h('label', { for: 'host-search', class: 'label' }, 'Hosts — search by name, ID or IP'), search),
    listEl,
    h('div', { class: 'picker-foot' }, countEl, addBtn)));

  const draw = () => drawHosts(state, { search, listEl, countEl, addBtn });
  search.addEventListener('input', draw);
  addBtn.addEventListener('click', () => {
    onAdd([...state.picked]);
    state.picked.clear();
    addBtn.disabled = true;
    draw();
    search.focus();
  });
  hosts().then((list) => {
    state.rows = list.flatMap((host) => host.private.map((ip) => ({ ip, host })));
    draw();
  }).catch((e) => {
    state.failed = e.notAvailable
      ? 'Hosts are not available in this moat yet: it does not answer the ECS DescribeInstances action.'
      : `Could not load hosts: ${e.text}`;
    draw();
  });
  return { sync(set) { state.inList = set; for (const ip of set) state.picked.delete(ip); draw(); } };
}

// drawHosts lists the addresses the search matches, best first, each a checkbox.
function drawHosts(state, { search, listEl, countEl, addBtn }) {
  clear(listEl);
  if (state.failed) { listEl.append(h('li', { class: 'picker-empty' }, state.failed)); countEl.textContent = ''; return; }
  const q = search.value.trim();
  const shown = rank(state.rows, q, (r) => [r.ip, r.host.name, r.host.id]);
  for (const r of shown) listEl.append(hostRow(state, r, q, addBtn));
  if (state.rows.length === 0) listEl.append(h('li', { class: 'picker-empty' }, 'No host is registered. Register hosts with `moat host add`.'));
  else if (shown.length === 0) listEl.append(h('li', { class: 'picker-empty' }, `No host matches "${q}".`));
  countEl.textContent = `${shown.length} of ${state.rows.length} addresses shown, ${state.picked.size} selected`;
}

function hostRow(state, r, q, addBtn) {
  const already = state.inList.has(r.ip);
  const cb = h('input', { type: 'checkbox', value: r.ip, checked: already || state.picked.has(r.ip), disabled: already, 'data-host': r.host.id });
  cb.addEventListener('change', () => { cb.checked ? state.picked.add(r.ip) : state.picked.delete(r.ip); addBtn.disabled = state.picked.size === 0; });
  return h('li', {}, h('label', { title: `Host ${r.host.id}${r.host.name ? ' · ' + r.host.name : ''}` },
    cb, h('span', { class: 'mono' }, highlight(r.ip, q)),
    h('span', { class: 'sub' }, highlight(r.host.name || '(no name)', q), ' · ', highlight(r.host.id, q), already ? ' · in the list' : '')));
}
