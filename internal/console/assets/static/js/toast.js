// toast.js owns the notifications: toast says what a change did, in the live region (role=status,
// #toast) at the bottom right. So that none stays over the page's content: at most TOAST_MAX are
// shown (a new one pushes out the oldest), each goes by itself after a few seconds (a warning stays
// longer, and the time stops while the pointer or the focus is on it), each has a button to dismiss
// it, and all go when the reader moves to another page (clearToasts, on hashchange).
import { h, append, clear } from './dom.js';

const TOAST_MAX = 3;
const TOAST_MS = 5000;
const TOAST_WARN_MS = 10000;

// toast shows msg; kind 'warn' makes it a warning.
export function toast(msg, kind) {
  const box = document.getElementById('toast');
  const d = h('div', { class: kind ? 'toast-item ' + kind : 'toast-item' });
  const { dismiss, wait } = toastTimer(d, kind === 'warn' ? TOAST_WARN_MS : TOAST_MS);
  append(d, h('span', { class: 'toast-text' }, msg),
    h('button', { type: 'button', class: 'toast-close', 'aria-label': 'Dismiss notification', title: 'Dismiss', onclick: dismiss }, '×'));
  box.append(d);
  while (box.children.length > TOAST_MAX) box.firstElementChild.remove();
  wait();
}

// toastTimer removes d after ms, a time that stops while the pointer or the focus is on d.
function toastTimer(d, ms) {
  let timer = 0, hover = false, focus = false;
  const dismiss = () => {
    clearTimeout(timer);
    if (!d.isConnected) return;
    const hadFocus = d.contains(document.activeElement);
    d.remove();
    if (hadFocus) document.getElementById('main').focus(); // not lost to the body
  };
  const wait = () => {
    clearTimeout(timer);
    if (!hover && !focus) timer = setTimeout(dismiss, ms);
  };
  d.addEventListener('mouseenter', () => { hover = true; wait(); });
  d.addEventListener('mouseleave', () => { hover = false; wait(); });
  d.addEventListener('focusin', () => { focus = true; wait(); });
  d.addEventListener('focusout', (ev) => { if (!d.contains(ev.relatedTarget)) { focus = false; wait(); } });
  return { dismiss, wait };
}

// clearToasts removes every notification.
export function clearToasts() { clear(document.getElementById('toast')); }
