// Package firewall renders a security group's rules as a ruleset a host can enforce (SPEC SG5): the rules
// never affect access to moat's instances (SG4), but the hosts in a group can load them to get ECS's
// semantics on their own interfaces. It is a leaf of the control plane: it imports only the model, and
// nothing in the data plane imports it.
package firewall

import (
	"fmt"
	"strings"

	"github.com/moat-dev/moat/internal/controlplane/model"
)

// TableName is the nftables table a group's ruleset lives in: "moat_" and the group ID with "-" as "_".
func TableName(sg string) string { return "moat_" + strings.ReplaceAll(sg, "-", "_") }

// Nftables returns an nftables ruleset (for `nft -f`) with the group's ECS semantics:
//
//   - stateful: packets of established and related connections are accepted in both directions, so the
//     answer to an accepted connection always gets through;
//   - inbound is denied unless a rule accepts it; outbound is allowed unless a rule drops it;
//   - rules are tried in priority order (1 first), drop before accept at equal priority, and the first
//     that matches decides;
//   - loopback traffic and IPv6 neighbour discovery are not filtered (ECS does not filter them either).
//
// NicType is not rendered: a host's ruleset applies to all its interfaces. Loading the file replaces
// the group's table as a whole, atomically; other tables are left alone.
func Nftables(g model.SecurityGroup) string {
	rules := append([]model.Rule(nil), g.Rules...)
	model.SortRules(rules)
	in, out := 0, 0
	for _, r := range rules {
		if r.Direction == model.Ingress {
			in++
		} else {
			out++
		}
	}
	var b strings.Builder
	t := TableName(g.ID)
	fmt.Fprintf(&b, "#!/usr/sbin/nft -f\n")
	fmt.Fprintf(&b, "# moat security group %s %q: %d inbound and %d outbound rule(s).\n", g.ID, g.Name, in, out)
	b.WriteString("# Stateful; inbound denied and outbound allowed unless a rule says otherwise; rules in priority\n")
	b.WriteString("# order (1 first, drop before accept at equal priority), the first match decides.\n")
	b.WriteString("# Load with: nft -f FILE (replaces this table only). Remove with: nft delete table inet " + t + "\n")
	fmt.Fprintf(&b, "table inet %s\ndelete table inet %s\n", t, t)
	fmt.Fprintf(&b, "table inet %s {\n", t)
	chain(&b, "input", "drop", model.Ingress, rules)
	b.WriteString("\n")
	chain(&b, "output", "accept", model.Egress, rules)
	b.WriteString("}\n")
	return b.String()
}

func chain(b *strings.Builder, name, policy, direction string, rules []model.Rule) {
	iface := "iif"
	if direction == model.Egress {
		iface = "oif"
	}
	fmt.Fprintf(b, "\tchain %s {\n", name)
	fmt.Fprintf(b, "\t\ttype filter hook %s priority filter; policy %s;\n", name, policy)
	b.WriteString("\t\tct state established,related accept\n")
	b.WriteString("\t\tct state invalid drop\n")
	fmt.Fprintf(b, "\t\t%s \"lo\" accept\n", iface)
	b.WriteString("\t\tmeta l4proto ipv6-icmp icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, nd-router-solicit, nd-router-advert } accept\n")
	for _, r := range rules {
		if r.Direction == direction {
			fmt.Fprintf(b, "\t\t%s\n", Rule(r))
		}
	}
	b.WriteString("\t}\n")
}

// Rule renders one rule as an nftables rule statement, with its ID, priority and description as the
// comment.
func Rule(r model.Rule) string {
	var parts []string
	family, addr := "ip", "saddr"
	if strings.Contains(r.CIDR, ":") {
		family = "ip6"
	}
	if r.Direction == model.Egress {
		addr = "daddr"
	}
	parts = append(parts, family, addr, r.CIDR)
	lo, hi, _ := model.ParsePortRange(r.PortRange)
	switch r.Protocol {
	case "tcp", "udp":
		ports := fmt.Sprint(lo)
		if hi != lo {
			ports = fmt.Sprintf("%d-%d", lo, hi)
		}
		parts = append(parts, r.Protocol, "dport", ports)
	case "icmp":
		parts = append(parts, "meta l4proto icmp")
	case "icmpv6":
		parts = append(parts, "meta l4proto ipv6-icmp")
	case "gre":
		parts = append(parts, "meta l4proto gre")
	}
	parts = append(parts, r.Policy)
	comment := fmt.Sprintf("%s p%d", r.ID, r.Priority)
	if r.Description != "" {
		comment += " " + r.Description
	}
	parts = append(parts, "comment", quote(comment))
	return strings.Join(parts, " ")
}

// quote makes a safe nftables string: printable ASCII without double quotes or backslashes, at most 120
// bytes (nftables comments hold 128).
func quote(s string) string {
	var b strings.Builder
	for _, c := range s {
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\'')
		case c < 0x20 || c > 0x7e:
			b.WriteByte('?')
		default:
			b.WriteRune(c)
		}
		if b.Len() >= 120 {
			break
		}
	}
	return `"` + b.String() + `"`
}
