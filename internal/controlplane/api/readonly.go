package api

// readOnlyActions are the actions, of both tables (actions.go, ecs.go), that change nothing stored: while
// a shared store cannot be reached they are still served, from what the gateway can read, and their
// signature nonces are kept in memory only (sign.Request.ReadOnly). Every other action is a change.
// A failed read writes an audit record, which the outage refuses: the read is answered all the same.
var readOnlyActions = map[string]bool{
	"DescribeSecurityIps":                true,
	"CheckAccess":                        true,
	"DescribeInstances":                  true, // both R-kvstore's and ECS's (hosts)
	"DescribeInstanceAttribute":          true,
	"DescribeParameters":                 true,
	"DescribeAccessKeys":                 true,
	"DescribeAuditLogs":                  true,
	"DescribeSecurityGroupConfiguration": true,
	"DescribeRefusedConnections":         true,
	"DescribeAccounts":                   true,
	"DescribeACLUsers":                   true,
	"ExportACL":                          true,
	"DescribeSecurityGroups":             true,
	"DescribeSecurityGroupAttribute":     true,
	"ExportSecurityGroups":               true,
	"PlanSecurityGroups":                 true,
	"RenderSecurityGroup":                true,
}
