// dialog.js owns the modal dialogs: opening one (and returning the focus when it closes), closing it
// on the browser's Back, and the confirmation dialog that Delete buttons open.
import { h } from './dom.js';

// Each open dialog has a history entry of its own (the same address, state {dialog: depth}), so that
// the browser's Back closes the dialog and leaves the reader on the page, as on a phone. A dialog
// closed otherwise (Cancel, Escape, done) takes its entry back off.
const open = [];  // the open dialogs, innermost last, each {d, depth}
window.addEventListener('popstate', (ev) => {
  const depth = (ev.state && ev.state.dialog) || 0;
  for (const o of open.filter((x) => x.depth > depth).reverse()) { o.popped = true; o.d.close(); }
});
// Another address (typed, or a link) leaves the page: its dialogs close, their entries stay behind.
window.addEventListener('hashchange', () => {
  for (const o of [...open].reverse()) { o.popped = true; o.d.close(); }
});

// dialog opens a modal <dialog>; it is removed when closed and the focus returns where it was; Back
// closes it. opts.narrow makes it narrow; opts.id is its id.
export function dialog(opts, ...content) {
  const back = document.activeElement;
  const d = h('dialog', { class: opts.narrow ? 'narrow' : null, 'aria-labelledby': 'dlg-title', id: opts.id || null }, ...content);
  const entry = { d, depth: open.length + 1, popped: false };
  open.push(entry);
  history.pushState({ dialog: entry.depth }, '');
  d.addEventListener('close', () => {
    open.splice(open.indexOf(entry), 1);
    d.remove();
    if (back && back.isConnected) back.focus();
    if (!entry.popped && history.state && history.state.dialog === entry.depth) history.back();
  });
  document.body.append(d);
  d.showModal();
  return d;
}

// cancelButton closes the dialog it is in.
export function cancelButton() {
  return h('button', { type: 'button', onclick: (ev) => ev.target.closest('dialog').close() }, 'Cancel');
}

// confirmDialog asks to confirm an action: title, text (paragraphs), the action button's label
// (red if danger). onConfirm runs on OK; the dialog closes when it succeeds and shows its error if
// it fails.
export function confirmDialog({ title, text, action, danger, onConfirm }) {
  const err = h('p', { class: 'form-error', role: 'alert' });
  const btn = h('button', { type: 'submit', class: danger ? 'danger' : 'primary', id: 'confirm-ok' }, action);
  const form = h('form', {},
    h('header', {}, h('h2', { id: 'dlg-title' }, title)),
    h('div', { class: 'body' }, text.map((t) => h('p', {}, t))),
    h('footer', {}, err, btn, cancelButton()));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    btn.disabled = true;
    try { await onConfirm(); d.close(); } catch (e) { err.textContent = e.text || String(e); } finally { btn.disabled = false; }
  });
  const d = dialog({ narrow: true, id: 'confirm-dialog' }, form);
  btn.focus();
  return d;
}
