// api.js owns the calls to moat's control-plane API: every read and change the console makes is an
// API action (the same ones the SDK and the CLI use), posted to /console/api, which checks the
// session and the CSRF token and hands the call to the API as the logged-in caller. It also shapes
// the answers the pages read (instances, whitelist groups, hosts, security groups).

export const KV = '2015-01-01';   // R-kvstore: whitelists, instances, security-group binding, moat's own
export const ECS = '2014-05-26';  // ECS: hosts and security groups

// ApiError is a refused or failed call: the HTTP status and the API's error code, message and
// request ID.
export class ApiError extends Error {
  constructor(status, code, message, requestId) {
    super(message || code);
    this.status = status; this.code = code || ''; this.requestId = requestId || '';
  }
  // notAvailable: this moat does not answer the action (yet).
  get notAvailable() { return this.code === 'InvalidAction.NotFound' || this.code === 'InvalidVersion'; }
  get text() { return this.code ? `${this.code}: ${this.message}` : this.message; }
}

// call makes the API action with params (undefined and null ones are left out) in version (default
// KV) and returns the answer, or throws an ApiError. A session that has ended sends the browser to
// the login page.
export async function call(action, params, version) {
  let res;
  try {
    res = await fetch('api', {
      method: 'POST', credentials: 'same-origin', body: form(action, params, version),
      headers: { 'X-CSRF-Token': csrfToken(), 'Content-Type': 'application/x-www-form-urlencoded' },
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

function csrfToken() { return document.querySelector('meta[name="csrf-token"]').content; }

function form(action, params, version) {
  const body = new URLSearchParams();
  body.set('Action', action);
  body.set('Version', version || KV);
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== undefined && v !== null) body.set(k, String(v));
  }
  return body;
}

// paged reads up to 50 pages of a Describe action; listOf picks a page's items out of an answer.
async function paged(action, pageSize, version, listOf) {
  const out = [];
  for (let page = 1; page <= 50; page++) {
    const r = await call(action, { PageSize: pageSize, PageNumber: page }, version);
    const list = listOf(r);
    out.push(...list);
    if (out.length >= (r.TotalCount || 0) || list.length === 0) break;
  }
  return out;
}

// instances lists the instances the caller may see.
export function instances() {
  return paged('DescribeInstances', 100, KV, (r) => (r.Instances && r.Instances.KVStoreInstance) || []);
}

// instanceAttr describes one instance.
export async function instanceAttr(id) {
  const r = await call('DescribeInstanceAttribute', { InstanceId: id });
  return ((r.Instances && r.Instances.DBInstanceAttribute) || [])[0] || { InstanceId: id };
}

// groups lists an instance's whitelist groups.
export async function groups(id) {
  const r = await call('DescribeSecurityIps', { InstanceId: id });
  return (r.SecurityIpGroups && r.SecurityIpGroups.SecurityIpGroup) || [];
}

// hostFrom shapes an ECS instance. Internal addresses are the VPC private IPs (and the classic
// network's inner IPs); public ones are not offered for "Import host internal IP addresses".
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

// hosts lists the registered hosts (ECS DescribeInstances, 2014-05-26), shaped by hostFrom.
export async function hosts() {
  const list = await paged('DescribeInstances', 100, ECS, (r) => ((r.Instances || {}).Instance) || []);
  return list.map(hostFrom);
}

// securityGroups lists every security group.
export function securityGroups() {
  return paged('DescribeSecurityGroups', 50, ECS, (r) => ((r.SecurityGroups || {}).SecurityGroup) || []);
}

// boundGroups lists the security groups bound to an instance.
export async function boundGroups(id) {
  const r = await call('DescribeSecurityGroupConfiguration', { InstanceId: id });
  return ((r.Items || {}).EcsSecurityGroupRelation) || [];
}
