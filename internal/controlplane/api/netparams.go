package api

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/moat-dev/moat/internal/controlplane/model"
)

// createNet reads CreateInstance's network parameters (moat's): TLSListen, a comma list of host:port
// served with TLS (without Listen, the instance has no plain listener: redis.conf's "port 0"), and
// Config, the instance's parameters as a JSON object like ModifyInstanceConfig's (a TLS instance needs
// its tls-* parameters from the start).
func createNet(c *call, in *model.Instance) error {
	if tl := splitList(c.params.Get("TLSListen")); len(tl) > 0 {
		in.TLSListen = tl
		if c.params.Get("Listen") == "" {
			in.Listen = nil
		}
	}
	if raw := c.params.Get("Config"); raw != "" {
		if err := createParams(raw, in); err != nil {
			return err
		}
	}
	if len(in.TLSListen) > 0 {
		// The files are read now, so that a bad certificate is InvalidParameter.Config, not a start failure.
		if err := in.TLSOptions().Validate(); err != nil {
			return fmt.Errorf("TLS listen addresses: %w: %w", err, model.ErrParam)
		}
		if _, err := in.TLSOptions().Load(time.Now()); err != nil {
			return fmt.Errorf("TLS listen addresses: %w: %w", err, model.ErrParam)
		}
	}
	return nil
}

// createParams parses CreateInstance's Config into the instance's parameters.
func createParams(raw string, in *model.Instance) error {
	var values map[string]any
	if err := json.Unmarshal([]byte(raw), &values); err != nil {
		return badConfig(`{"tls-auth-clients":"no"}`)
	}
	in.Params = map[string]string{}
	for k, v := range values {
		var s string
		switch v := v.(type) {
		case string:
			s = v
		case float64:
			s = strconv.FormatFloat(v, 'f', -1, 64)
		case bool:
			s = map[bool]string{true: "yes", false: "no"}[v]
		default:
			return badConfigValue(k)
		}
		if err := model.CheckParam(k, s); err != nil {
			return err
		}
		if d, _ := model.LookupParam(k); d.Default != s {
			in.Params[k] = s
		}
	}
	return nil
}
