package cli

// Calls to the ECS actions (security groups, rules, hosts), which moat host and moat sg share.

import "net/url"

// VersionECS is the API version of the ECS actions (security groups, rules, hosts).
const VersionECS = "2014-05-26"

// callECS is call for an ECS action.
func (o *Options) callECS(action string, params map[string]string, out any) error {
	c, err := o.client()
	if err != nil {
		return err
	}
	return c.CallVersion(action, VersionECS, params, out)
}

// callValues calls an action with the parameters exactly as given (empty values included).
func (o *Options) callValues(action, version string, params url.Values, out any) error {
	c, err := o.client()
	if err != nil {
		return err
	}
	return c.CallValues(action, version, params, out)
}
