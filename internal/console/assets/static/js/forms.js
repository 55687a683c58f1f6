// forms.js owns where an API error is shown in a form: next to the field it concerns, or on the
// form. The API checks every input and has the last word; the console only places its answer.

// FIELD_OF_CODE: the field an API error concerns, by the whole first part of its code (the part
// before the dot): InvalidSecurityIPGroupName.NotFound is about the group name,
// InvalidSecurityIPList.Format and InvalidSecurityIPs.NotFound about the list.
const FIELD_OF_CODE = {
  InvalidGroupName: 'name', InvalidSecurityIPGroupName: 'name', InvalidSecurityIpGroupName: 'name',
  InvalidSecurityIPList: 'ips', InvalidSecurityIpList: 'ips', InvalidSecurityIPs: 'ips', InvalidSecurityIps: 'ips',
  InvalidSourceIp: 'ips',
};
// FIELD_OF_PARAM: the field a MissingParameter error concerns, by the parameter it names.
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

// showApiError puts an API error next to the field it concerns (fields.name or fields.ips: [input,
// error element]), or in fields.form when that field is not in the form (a Modify has no name field)
// or the error concerns no field.
export function showApiError(e, fields) {
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
