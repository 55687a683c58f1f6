// dom.js owns the small DOM helpers every page uses: building elements (h), appending children,
// emptying an element, and formatting a time, with its zone, for people. Text is always put in the
// page as text nodes, never parsed as HTML.

// h builds an element: h('a', {href: '#'}, 'text', child, …). Attributes starting with "on" are
// listeners; class, text and boolean attributes are handled; strings become text nodes. A tag
// starting with "svg:" is made in the SVG namespace.
export function h(tag, attrs, ...children) {
  const el = tag.startsWith('svg:')
    ? document.createElementNS('http://www.w3.org/2000/svg', tag.slice(4))
    : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) setAttr(el, k, v);
  append(el, children);
  return el;
}

function setAttr(el, k, v) {
  if (v === undefined || v === null || v === false) return;
  if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
  else if (k === 'class') el.setAttribute('class', v);
  else if (k === 'text') el.textContent = v;
  else if (v === true) el.setAttribute(k, '');
  else el.setAttribute(k, String(v));
}

// append adds children (nested arrays are flattened; null, undefined and false are skipped; anything
// that is not a Node becomes a text node) and returns el.
export function append(el, ...children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

// clear removes every child of el and returns el.
export function clear(el) { while (el.firstChild) el.firstChild.remove(); return el; }

const pad2 = (n) => String(n).padStart(2, '0');

// fmtTime formats an API time as local time with its zone, "YYYY-MM-DD hh:mm:ss UTC+08:00" (zone);
// what it cannot parse is returned as is.
export function fmtTime(s) {
  if (!s) return '';
  const d = new Date(s);
  if (isNaN(d)) return s;
  return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ${fmtClock(d)}:${pad2(d.getSeconds())} ${zone(d)}`;
}

// fmtClock formats the Date d's local time of day as "hh:mm" (its zone is zone(d)).
export function fmtClock(d) { return `${pad2(d.getHours())}:${pad2(d.getMinutes())}`; }

// zone names the offset from UTC of the browser's local time at the Date d: "UTC", "UTC+08:00",
// "UTC-05:30".
export function zone(d) {
  const off = -d.getTimezoneOffset();
  if (off === 0) return 'UTC';
  const a = Math.abs(off);
  return `UTC${off < 0 ? '-' : '+'}${pad2(Math.floor(a / 60))}:${pad2(a % 60)}`;
}
