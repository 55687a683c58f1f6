package config

import (
	"errors"
	"fmt"
	"net"
	"strconv"

	"github.com/moat-dev/moat/internal/controlplane/model"
)

// DefaultBind is where bind/port/tls_port listen when bind is not given.
const DefaultBind = "127.0.0.1"

// resolveListen returns an instance's plain and TLS listen addresses: listen and tls_listen as given,
// or redis.conf's bind × port and bind × tls_port (port 0 or absent: none). The two ways cannot be
// mixed in one instance.
func resolveListen(ci Instance, path string, p *problems) (plain, tls []string) {
	redisStyle := len(ci.Bind) > 0 || ci.Port != nil || ci.TLSPort != nil
	if !redisStyle {
		return ci.Listen, ci.TLSListen
	}
	if len(ci.Listen) > 0 || len(ci.TLSListen) > 0 {
		p.add(path+".bind", "", "use either listen/tls_listen or bind/port/tls_port, not both")
		return ci.Listen, ci.TLSListen
	}
	bind := ci.Bind
	if len(bind) == 0 {
		bind = []string{DefaultBind}
	}
	for j, b := range bind {
		if net.ParseIP(b) == nil {
			p.add(fmt.Sprintf("%s.bind[%d]", path, j), b, "want an IP address (0.0.0.0 and :: for every address)")
		}
	}
	expand := func(field string, port *int) []string {
		if port == nil || *port == 0 {
			return nil
		}
		if *port < 0 || *port > 65535 {
			p.add(path+"."+field, strconv.Itoa(*port), "want 0 (none) to 65535")
			return nil
		}
		out := make([]string, 0, len(bind))
		for _, b := range bind {
			out = append(out, net.JoinHostPort(b, strconv.Itoa(*port)))
		}
		return out
	}
	plain, tls = expand("port", ci.Port), expand("tls_port", ci.TLSPort)
	if len(plain) == 0 && len(tls) == 0 {
		p.add(path+".port", "", "port and tls_port are both 0: the instance would listen nowhere")
	}
	return plain, tls
}

// checkTLSListen checks the TLS listen addresses and, when there are some, that the TLS parameters can
// serve them (certificate, key, CA as Redis requires; the files are read when moat starts).
func checkTLSListen(in model.Instance, path string, seen map[string]string, p *problems) {
	for j, l := range in.TLSListen {
		where := fmt.Sprintf("%s.tls_listen[%d]", path, j)
		if err := model.CheckListen(l); err != nil {
			p.add(where, l, errors.Unwrap(err).Error())
		} else if other, dup := seen[l]; dup {
			p.add(where, l, "already used by "+other)
		} else {
			seen[l] = path
		}
	}
	if len(in.TLSListen) == 0 {
		return
	}
	if err := in.TLSOptions().Validate(); err != nil {
		for _, e := range flatten(err) {
			p.add(path+".params", "", "TLS listen addresses: "+e.Error())
		}
	}
}
