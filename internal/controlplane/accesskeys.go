package controlplane

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/moat-dev/moat/internal/controlplane/store"
)

// AccessKey is a credential for the API with its policy. The secret is needed to verify HMAC signatures,
// so it is stored as is (in the 0600 state file); it is returned only when the key is created.
type AccessKey struct {
	ID          string    `json:"id"`
	Secret      string    `json:"secret"`
	Description string    `json:"description,omitempty"`
	Actions     []string  `json:"actions"`   // action patterns: "*", "Describe*", "ModifySecurityIps"
	Instances   []string  `json:"instances"` // instance IDs or "*"
	Created     time.Time `json:"created"`
}

// Access key errors.
var (
	ErrKeyNotFound = errors.New("access key not found")
	ErrPolicy      = errors.New("invalid policy")
	ErrLastAdmin   = errors.New("cannot delete the last key allowed every action on every instance")
	// ErrKeyDescription: a description that is not UTF-8 text of at most 256 characters without control
	// characters (the API's answers, the console and the audit show it).
	ErrKeyDescription = errors.New("the description must be UTF-8 text of at most 256 characters, without control characters")
)

// checkKeyDescription returns ErrKeyDescription, with the description quoted, for one it refuses.
func checkKeyDescription(d string) error {
	if !utf8.ValidString(d) || utf8.RuneCountInString(d) > 256 || strings.IndexFunc(d, unicode.IsControl) >= 0 {
		return fmt.Errorf("%q: %w", d, ErrKeyDescription)
	}
	return nil
}

const keyPrefix = "keys/"

// ActionACLUserSecrets is the permission to read ACL users' password hashes: DescribeACLUsers and
// ExportACL answer the hashes only to a key whose policy names it, and mask them ("#xxxxx") for every
// other key. It is a secret action: no wildcard grants it.
const ActionACLUserSecrets = "DescribeACLUserSecrets"

// secretActions are granted only by a policy's action pattern that names them exactly: "*",
// "Describe*" or "*Secrets" do not. A key made before they existed therefore reads no secret until
// its policy is changed on purpose.
var secretActions = map[string]bool{ActionACLUserSecrets: true}

// Allows reports whether the key's policy allows action on instance ("" for calls that name none:
// those need the instance pattern "*"). A secret action (ActionACLUserSecrets) must be named exactly.
func (k AccessKey) Allows(action, instance string) bool {
	if secretActions[action] {
		return slices.Contains(k.Actions, action) && matchAny(k.Instances, orStar(instance))
	}
	return matchAny(k.Actions, action) && matchAny(k.Instances, orStar(instance))
}

// IsAdmin reports a key allowed every action on every instance.
func (k AccessKey) IsAdmin() bool {
	return matchAny(k.Actions, "\x00any") && matchAny(k.Instances, "\x00any")
}

func orStar(s string) string {
	if s == "" {
		return "*"
	}
	return s
}

func matchAny(patterns []string, s string) bool {
	for _, p := range patterns {
		if Match(p, s) {
			return true
		}
	}
	return false
}

// Match matches s against a pattern in which "*" stands for any run of characters (case-sensitive, like
// action names). "*" alone matches everything.
func Match(pattern, s string) bool {
	if pattern == "*" {
		return true
	}
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return pattern == s
	}
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	for i := 1; i < len(parts)-1; i++ {
		j := strings.Index(s, parts[i])
		if j < 0 {
			return false
		}
		s = s[j+len(parts[i]):]
	}
	return strings.HasSuffix(s, parts[len(parts)-1])
}

func checkPolicy(actions, instances []string) error {
	var errs []error
	if len(actions) == 0 {
		errs = append(errs, fmt.Errorf("%w: at least one action pattern is needed", ErrPolicy))
	}
	if len(instances) == 0 {
		errs = append(errs, fmt.Errorf("%w: at least one instance ID or \"*\" is needed", ErrPolicy))
	}
	for _, a := range actions {
		if a == "" || strings.ContainsAny(a, " ,") {
			errs = append(errs, fmt.Errorf("%w: action pattern %q", ErrPolicy, a))
		}
	}
	for _, in := range instances {
		if in == "" || strings.ContainsAny(in, " ,") {
			errs = append(errs, fmt.Errorf("%w: instance %q", ErrPolicy, in))
		}
	}
	return errors.Join(errs...)
}

// CreateKey creates an access key with a new ID and secret and returns it (the only time the secret is
// returned).
func (p *Plane) CreateKey(a Actor, description string, actions, instances []string) (AccessKey, error) {
	return p.newKey(a, "CreateAccessKey", description, actions, instances, nil)
}

// DeleteKey removes an access key. The last admin key cannot be removed.
func (p *Plane) DeleteKey(a Actor, id string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	defer p.keys.forget(id)
	return p.store.Update(func(tx store.Tx) error {
		kvs, err := tx.List(keyPrefix)
		if err != nil {
			return err
		}
		var victim *AccessKey
		admins := 0
		for _, kv := range kvs {
			var k AccessKey
			if err := json.Unmarshal(kv.Value, &k); err != nil {
				return err
			}
			if k.IsAdmin() {
				admins++
			}
			if k.ID == id {
				victim = &k
			}
		}
		if victim == nil {
			return fmt.Errorf("%q: %w", id, ErrKeyNotFound)
		}
		if victim.IsAdmin() && admins == 1 {
			return ErrLastAdmin
		}
		victim.Secret = ""
		before, _ := json.Marshal(victim)
		if err := tx.Delete(keyPrefix + id); err != nil {
			return err
		}
		return p.appendAudit(tx, AuditEntry{Time: p.now(), KeyID: a.KeyID, Source: a.Source, Action: "DeleteAccessKey", Result: ResultOK, Before: before})
	})
}

// Key returns an access key, secret included (for signature checks). It reads the store; while a
// shared store cannot be reached (store.ErrUnavailable) it answers the key as last read, so that a
// caller gets the outage's error from the call itself rather than "unknown key" (keycache.go).
func (p *Plane) Key(id string) (AccessKey, error) {
	var k AccessKey
	err := p.store.View(func(tx store.Tx) error {
		b, err := tx.Get(keyPrefix + id)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%q: %w", id, ErrKeyNotFound)
		}
		if err != nil {
			return err
		}
		return json.Unmarshal(b, &k)
	})
	return p.keys.seen(id, k, err)
}

// Keys lists access keys without their secrets.
func (p *Plane) Keys() ([]AccessKey, error) {
	var out []AccessKey
	err := p.store.View(func(tx store.Tx) error {
		kvs, err := tx.List(keyPrefix)
		if err != nil {
			return err
		}
		for _, kv := range kvs {
			var k AccessKey
			if err := json.Unmarshal(kv.Value, &k); err != nil {
				return err
			}
			k.Secret = ""
			out = append(out, k)
		}
		return nil
	})
	return out, err
}
