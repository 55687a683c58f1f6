package api

// ScriptsSource is the part of the Runtime that says how a served instance runs a restricted user's
// scripts (gateway per-user identities). A Runtime without it says nothing.
type ScriptsSource interface {
	// UserScripts is one sentence on how user's scripts and functions run; "" for an unknown or
	// unrestricted user or an instance not served here.
	UserScripts(instanceID, user string) string
}

// withScripts adds to the verdict on logging in as v.UserName how that user's scripts run.
func (c *call) withScripts(v loginVerdict, id string) loginVerdict {
	if src, ok := c.h.runtime.(ScriptsSource); ok && v.Exists {
		v.Scripts = src.UserScripts(id, v.UserName)
	}
	return v
}
