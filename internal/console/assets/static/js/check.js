// check.js owns the Access check page: would a client from this address (and, optionally, this user)
// be allowed to connect? The answer is CheckAccess, a dry run on the same compiled allow set the
// listeners use.
import { h, append, clear } from './dom.js';
import { call } from './api.js';
import { setChrome } from './frame.js';
import { showApiError } from './forms.js';

// checkPage fills view with the question's form and the place for its answer.
export async function checkPage(route, view) {
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
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    ask(route.id, { src, user, srcError, result, btn });
  });
  append(view,
    h('h1', {}, 'Access check'),
    h('p', { class: 'subtitle' }, 'Would a client from this address be allowed to connect to ', h('span', { class: 'mono' }, route.id),
      '? moat answers from the same compiled allow set its listeners use, without opening a connection.'),
    form, result);
}

// ask calls CheckAccess and shows its verdict, or its error next to the address.
async function ask(instance, { src, user, srcError, result, btn }) {
  srcError.textContent = '';
  src.removeAttribute('aria-invalid');
  btn.disabled = true;
  try {
    const params = { InstanceId: instance, SourceIp: src.value.trim() };
    if (user.value.trim()) params.UserName = user.value.trim();
    const r = await call('CheckAccess', params);
    clear(result);
    result.className = 'verdict ' + (r.Allowed ? 'allowed' : 'refused');
    append(result, verdict(r));
  } catch (e) {
    showApiError(e, { ips: [src, srcError], form: srcError });
    clear(result).append(h('p', { class: 'note' }, 'No answer.'));
    result.className = 'verdict';
  } finally {
    btn.disabled = false;
  }
}

// verdict is CheckAccess's answer for people: allowed or refused and why, everything that admits
// the address, and the user's answer if one was asked about.
function verdict(r) {
  return [
    h('p', { class: 'big', id: 'verdict-word' }, r.Allowed ? `Allowed: ${r.SourceIp} may connect` : `Refused: ${r.SourceIp} may not connect`),
    h('p', { id: 'verdict-reason' }, r.Reason),
    (r.Matches || []).length ? h('table', {},
      h('caption', {}, 'Everything that admits this address'),
      h('thead', {}, h('tr', {}, ['Group', 'Entry', 'Security group', 'Host'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, r.Matches.map((m) => h('tr', {}, h('td', { class: 'mono' }, m.Group || ''), h('td', { class: 'mono' }, m.Entry || ''),
        h('td', { class: 'mono' }, m.SecurityGroup || ''), h('td', { class: 'mono' }, m.Host || ''))))) : null,
    r.User ? h('p', { id: 'verdict-user' },
      `User ${r.User.UserName}: ${r.User.Allowed ? 'may log in from here' : 'may not log in from here'} — ${r.User.Reason}`) : null,
  ];
}
