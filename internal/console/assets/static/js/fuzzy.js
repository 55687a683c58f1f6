// fuzzy.js owns the pickers' fuzzy search: every word of the query must match one of the fields, as
// a substring (ranked first) or as a subsequence ("web1" finds "web-1"); highlight marks the match.
import { h } from './dom.js';

function words(query) { return query.toLowerCase().split(/\s+/).filter(Boolean); }

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

// fuzzy scores how well query matches fields (higher is better), or returns -1 if it does not.
export function fuzzy(query, fields) {
  let total = 0;
  for (const w of words(query)) {
    const best = Math.max(...fields.map((f) => matchScore(w, f)));
    if (best < 0) return -1;
    total += best;
  }
  return total;
}

// rank returns the items that match query, best first; fieldsOf names an item's searched fields.
// An empty query keeps every item, in order.
export function rank(items, query, fieldsOf) {
  return items.map((item) => ({ item, s: query ? fuzzy(query, fieldsOf(item)) : 0 }))
    .filter((x) => x.s >= 0).sort((a, b) => b.s - a.s).map((x) => x.item);
}

// highlight marks the query's first substring match in text.
export function highlight(text, query) {
  const lower = text.toLowerCase();
  for (const w of words(query)) {
    const i = lower.indexOf(w);
    if (i >= 0) return [text.slice(0, i), h('mark', {}, text.slice(i, i + w.length)), text.slice(i + w.length)];
  }
  return [text];
}
