package model

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// Host is a machine that may connect to instances: the seeds' ECS instance ("i-…") or elastic container
// instance ("eci-…"). Only its addresses matter to access: every private and public IP of a host in a
// bound security group is allowed (SG2). Values are copied freely; treat the slice as immutable.
type Host struct {
	ID         string   `json:"id"`
	Name       string   `json:"name"`
	PrivateIPs []string `json:"private_ips"`
	PublicIP   string   `json:"public_ip,omitempty"`
	VpcID      string   `json:"vpc_id,omitempty"`
}

// Host limits.
const (
	MaxHostPrivateIPs = 50 // private addresses of one host (primary and secondary, all interfaces)
	MaxNameLen        = 128
)

// Host errors; messages wrap them with the offending value.
var (
	ErrHostID      = errors.New(`host ID must be "i-" (ECS instance) or "eci-" (elastic container instance) followed by 1 to 60 lowercase letters or digits`)
	ErrHostAddress = errors.New("host address must be one IP address (IPv4 or IPv6, no prefix, no zone)")
	ErrName        = errors.New("name must be 2 to 128 characters and must not start with http:// or https://")
	ErrVpcID       = errors.New(`VPC ID must be "vpc-" followed by lowercase letters or digits`)
)

// CheckHostID checks a host ID: "i-" or "eci-" followed by 1–60 lowercase letters or digits.
func CheckHostID(id string) error {
	rest, ok := strings.CutPrefix(id, "i-")
	if !ok {
		rest, ok = strings.CutPrefix(id, "eci-")
	}
	if !ok || !lowerAlnum(rest, 60) {
		return fmt.Errorf("%q: %w", id, ErrHostID)
	}
	return nil
}

// NewHostID returns a fresh random ECS-style host ID: "i-" and 20 lowercase letters and digits.
func NewHostID() string { return "i-" + Random("abcdefghijklmnopqrstuvwxyz0123456789", 20) }

// Kind is "ecs" for an ECS instance and "eci" for an elastic container instance, from the ID.
func (h Host) Kind() string {
	if strings.HasPrefix(h.ID, "eci-") {
		return "eci"
	}
	return "ecs"
}

// Addrs returns every address of the host, private ones first, each once. Invalid addresses are skipped
// (Validate refuses them).
func (h Host) Addrs() []netip.Addr {
	out := make([]netip.Addr, 0, len(h.PrivateIPs)+1)
	seen := map[netip.Addr]bool{}
	for _, s := range append(append([]string(nil), h.PrivateIPs...), h.PublicIP) {
		a, err := netip.ParseAddr(s)
		if err != nil || seen[a.Unmap()] {
			continue
		}
		seen[a.Unmap()] = true
		out = append(out, a.Unmap())
	}
	return out
}

// ParseHostAddr parses one host address: canonical text of an IPv4 or IPv6 address, IPv4-mapped ones as
// IPv4. It returns the canonical text.
func ParseHostAddr(s string) (string, error) {
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return "", fmt.Errorf("%q: %w", s, ErrHostAddress)
	}
	return a.Unmap().String(), nil
}

// checkName checks a display name the way ECS does: 2–128 characters, not starting with http(s)://.
// An empty name is allowed (the ID stands for it).
func checkName(name string) error {
	n := len([]rune(name))
	if name == "" {
		return nil
	}
	if n < 2 || n > MaxNameLen || strings.HasPrefix(name, "http://") || strings.HasPrefix(name, "https://") {
		return fmt.Errorf("%q: %w", name, ErrName)
	}
	return nil
}

// CheckVpcID checks an optional VPC ID.
func CheckVpcID(id string) error {
	if id == "" {
		return nil
	}
	rest, ok := strings.CutPrefix(id, "vpc-")
	if !ok || !lowerAlnum(rest, 60) {
		return fmt.Errorf("%q: %w", id, ErrVpcID)
	}
	return nil
}

// Validate checks a host and reports every problem at once. Addresses must be canonical (ParseHostAddr);
// a host needs at least one private address, and no address may be listed twice.
func (h Host) Validate() error {
	var errs []error
	if err := CheckHostID(h.ID); err != nil {
		errs = append(errs, err)
	}
	if err := checkName(h.Name); err != nil {
		errs = append(errs, err)
	}
	if err := CheckVpcID(h.VpcID); err != nil {
		errs = append(errs, err)
	}
	if len(h.PrivateIPs) == 0 {
		errs = append(errs, fmt.Errorf("host %q: at least one private IP is needed: %w", h.ID, ErrHostAddress))
	}
	if len(h.PrivateIPs) > MaxHostPrivateIPs {
		errs = append(errs, fmt.Errorf("host %q: %d private IPs, at most %d: %w", h.ID, len(h.PrivateIPs), MaxHostPrivateIPs, ErrHostAddress))
	}
	seen := map[string]bool{}
	all := append(append([]string(nil), h.PrivateIPs...), h.PublicIP)
	for i, s := range all {
		if i == len(all)-1 && s == "" {
			break // no public IP
		}
		c, err := ParseHostAddr(s)
		switch {
		case err != nil:
			errs = append(errs, err)
		case c != s:
			errs = append(errs, fmt.Errorf("%q: write it as %s: %w", s, c, ErrHostAddress))
		case seen[c]:
			errs = append(errs, fmt.Errorf("%q: listed twice: %w", s, ErrHostAddress))
		}
		seen[c] = true
	}
	return errors.Join(errs...)
}

func lowerAlnum(s string, max int) bool {
	if len(s) < 1 || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z') && !('0' <= c && c <= '9') {
			return false
		}
	}
	return true
}
