// entries.js owns reading whitelist entries and groups as the API gives them: SecurityIpList is one
// comma-separated string; 0.0.0.0/0 and ::/0 admit every address; some groups belong to the system.

export const MAX_ENTRIES = 1000;
const SYSTEM_GROUPS = ['ali_dms_group', 'hdm_security_ips'];

// splitEntries splits a SecurityIpList (commas, spaces and new lines separate entries).
export function splitEntries(s) {
  return String(s || '').split(/[\s,]+/).map((x) => x.trim()).filter(Boolean);
}

// isOpen reports whether the entry admits every address.
export const isOpen = (e) => e === '0.0.0.0/0' || e === '::/0';

// isSystem reports whether the group is the system's (hidden, or a system name): not modified or
// deleted in the console.
export const isSystem = (g) => g.SecurityIpGroupAttribute === 'hidden' || SYSTEM_GROUPS.includes(g.SecurityIpGroupName);
