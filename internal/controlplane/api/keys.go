package api

import (
	"errors"
	"strconv"
	"strings"
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

// describeAuditLogs reads the audit trail, newest first (API2). LogType chooses the log: Changes (the
// default: every change, with before and after, kept for the retention) or FailedCalls (failed and denied
// calls, one record per key, action, instance and result, with a count and when first and last seen).
// InstanceId, ActionName (any case), UserAccessKeyId, StartTime and EndTime (RFC 3339; start included,
// end not) filter; PageSize (1-1000, default 100) bounds a page and NextToken, from the previous page's
// answer, reads the next one. Every filter reads an index: the cost is that of the page.
func describeAuditLogs(c *call) (any, error) {
	f := controlplane.AuditFilter{Instance: c.params.Get("InstanceId"), Action: c.params.Get("ActionName"),
		KeyID: c.params.Get("UserAccessKeyId"), Before: c.params.Get("NextToken"), Limit: 100}
	if s := c.params.Get("PageSize"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			return nil, errAuditPageSize
		}
		f.Limit = n
	}
	for _, t := range []struct {
		param string
		to    *time.Time
	}{{"StartTime", &f.Since}, {"EndTime", &f.Until}} {
		if s := c.params.Get(t.param); s != "" {
			v, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				return nil, badTime(t.param, s)
			}
			// The filter takes a zero time for "no bound": a time given before any record's (year 1)
			// is the Unix epoch, so EndTime=0001-01-01T00:00:00Z selects nothing, not everything.
			*t.to = later(v, time.Unix(0, 0).UTC())
		}
	}
	var list any
	var next string
	var err error
	switch lt := c.params.Get("LogType"); {
	case lt == "" || strings.EqualFold(lt, "Changes"):
		list, next, err = c.h.plane.AuditPage(f)
	case strings.EqualFold(lt, "FailedCalls"):
		list, next, err = c.h.plane.FailedCalls(f)
	default:
		return nil, badLogType(lt)
	}
	if errors.Is(err, controlplane.ErrBadPageToken) {
		return nil, badAuditToken(f.Before)
	}
	if err != nil {
		return nil, err
	}
	out := map[string]any{"AuditLogs": map[string]any{"AuditLog": list}}
	if next != "" {
		out["NextToken"] = next
	}
	return out, nil
}

// later is the later of a and b.
func later(a, b time.Time) time.Time {
	if a.Before(b) {
		return b
	}
	return a
}
