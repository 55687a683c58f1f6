package api

import (
	"strconv"
	"time"

	"github.com/moat-dev/moat/internal/controlplane"
)

type keyView struct {
	AccessKeyId string
	Description string
	Actions     []string
	Instances   []string
	CreateTime  string
}

// createAccessKey creates a key with a policy: Actions and Instances are comma lists of patterns
// ("Describe*", "*") and instance IDs ("*" for all). The secret is in this response and never again.
func createAccessKey(c *call) (any, error) {
	k, err := c.h.plane.CreateKey(c.actor, c.params.Get("Description"),
		splitList(c.params.Get("Actions")), splitList(c.params.Get("Instances")))
	if err != nil {
		return nil, err
	}
	return map[string]any{"AccessKeyId": k.ID, "AccessKeySecret": k.Secret, "Actions": k.Actions, "Instances": k.Instances}, nil
}

// deleteAccessKey deletes the key named by UserAccessKeyId (RAM's name for it): AccessKeyId is the
// caller's own key in a V1 signature, so it cannot also name the key to delete.
func deleteAccessKey(c *call) (any, error) {
	id, err := c.required("UserAccessKeyId")
	if err != nil {
		return nil, err
	}
	return map[string]any{}, c.h.plane.DeleteKey(c.actor, id)
}

func describeAccessKeys(c *call) (any, error) {
	keys, err := c.h.plane.Keys()
	if err != nil {
		return nil, err
	}
	list := []keyView{}
	for _, k := range keys {
		list = append(list, keyView{k.ID, k.Description, k.Actions, k.Instances, k.Created.Format(time.RFC3339)})
	}
	return map[string]any{"AccessKeys": map[string]any{"AccessKey": list}}, nil
}

func describeAuditLogs(c *call) (any, error) {
	limit := 100
	if s := c.params.Get("PageSize"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			return nil, invalid("InvalidPageSize.Malformed", "PageSize must be an integer from 1 to 1000.")
		}
		limit = n
	}
	entries, err := c.h.plane.AuditLog(controlplane.AuditFilter{Instance: c.params.Get("InstanceId"), Action: c.params.Get("ActionName"), Limit: limit})
	if err != nil {
		return nil, err
	}
	return map[string]any{"AuditLogs": map[string]any{"AuditLog": entries}}, nil
}
