// Package spec parses and renders backend specs ("embedded", redis://, rediss://, unix://): the string
// an instance names its backend with. It owns the spec's syntax and its redacted rendering only, and
// imports nothing of moat but redact, so that the control plane's model validates a backend string
// without importing the data plane; package backend opens what it describes.
package spec

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/moat-dev/moat/internal/redact"
)

// Errors that a backend moat cannot guard is refused with; package backend detects them when it dials
// and wraps them. A Redis Cluster node answers MOVED and ASK with other nodes' addresses, and a
// cluster-aware client following them reaches those nodes directly, past every whitelist and ACL:
// until moat can guard redirections it relays nothing to a cluster node, nor to a backend that will not
// say whether it is one.
var (
	// ErrCluster: CONFIG GET cluster-enabled answers yes, or INFO cluster says cluster_enabled:1.
	ErrCluster = errors.New("backend is a Redis Cluster node: moat cannot yet guard MOVED/ASK redirections, which lead clients straight to other nodes past the whitelist and ACL; point moat at a standalone server")
	// ErrClusterUnknown: both questions were refused (other than with NOAUTH).
	ErrClusterUnknown = errors.New("moat cannot check that the backend is not a Redis Cluster node (it cannot yet guard MOVED/ASK redirections); allow moat's backend login the INFO command")
)

// Backend kinds, the values of Spec.Kind.
const (
	// KindAuto (also the empty spec): no backend named. moat runs a managed server when it found a
	// redis-server or valkey-server binary, else the in-process engine (package backend decides).
	KindAuto     = "auto"
	KindManaged  = "managed"  // a redis-server/valkey-server moat runs and supervises, data under the instance's directory
	KindEmbedded = "embedded" // in-process engine, data under the instance's directory
	KindRedis    = "redis"    // RESP server over TCP
	KindRediss   = "rediss"   // RESP server over TLS
	KindUnix     = "unix"     // RESP server over a unix socket
)

// DefaultPort is the port of redis:// and rediss:// specs that name none.
const DefaultPort = 6379

// MaxSocketPath is the longest unix socket path accepted: sun_path holds 108 bytes on Linux and 104 on
// the BSDs, both including the terminating NUL.
const MaxSocketPath = 103

// redacted replaces every password in String() and in error texts.
const redacted = redact.Mask

// ErrSpec is wrapped by every Parse error.
var ErrSpec = errors.New("bad backend spec")

// Spec is a parsed backend spec. The zero value is not valid; use Parse.
// String() renders it back as a normalised URL with the password redacted, safe for logs.
type Spec struct {
	Kind     string // KindEmbedded, KindRedis, KindRediss or KindUnix
	Addr     string // "host:port" for redis/rediss, the socket path for unix, "" for embedded
	User     string // ACL user for AUTH; "" means AUTH with the password only (the default user)
	Password string // AUTH password; AUTH is sent when User or Password is set
	DB       int    // database selected with SELECT after AUTH when not 0

	// TLS (rediss only). The server certificate is verified against the system roots.
	ServerName         string // name sent as SNI and verified; default: the host of Addr
	InsecureSkipVerify bool   // skip certificate verification (tests only)

	// TLS files (rediss only), re-read when they change (tlsfiles.go).
	CAFile   string // ca_cert: PEM CAs the server's certificate must chain to, instead of the system roots
	CertFile string // client_cert: PEM client certificate presented to the server (with KeyFile)
	KeyFile  string // client_key: its PEM private key
}

// Parse parses a backend spec:
//
//	auto                                      (also the empty string) no backend named: managed when a server binary is found, else embedded
//	managed                                   a redis-server/valkey-server moat runs and supervises
//	embedded                                  the in-process engine
//	redis://[user[:pass]@]host[:port][/db]    port defaults to 6379, db to 0
//	rediss://[user[:pass]@]host[:port][/db][?sni=name&insecure_skip_verify=true&ca_cert=/ca.pem&client_cert=/c.pem&client_key=/c.key]
//	unix:///path/to.sock[?db=N&user=name&password=pass]
//
// Passwords and users are percent-decoded. Every bad part of the spec is named in the error, which
// wraps ErrSpec and never contains the password.
func Parse(spec string) (Spec, error) {
	switch spec {
	case "", KindAuto:
		return Spec{Kind: KindAuto}, nil
	case KindManaged, KindEmbedded:
		return Spec{Kind: spec}, nil
	}
	scheme, _, ok := strings.Cut(spec, "://")
	if !ok {
		return Spec{}, specErr(spec, []string{fmt.Sprintf("%q is neither %q, %q, %q nor a URL (redis://, rediss://, unix://)", redactRaw(spec), KindAuto, KindManaged, KindEmbedded)})
	}
	u, err := url.Parse(spec)
	if err != nil {
		// url.Error would repeat the whole spec, password included: keep only the cause.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return Spec{}, specErr(spec, []string{err.Error()})
	}
	switch strings.ToLower(scheme) {
	case KindRedis, KindRediss:
		return parseTCP(spec, u)
	case KindUnix:
		return parseUnix(spec, u)
	default:
		return Spec{}, specErr(spec, []string{fmt.Sprintf("scheme %q: want redis, rediss or unix", scheme)})
	}
}

func parseTCP(spec string, u *url.URL) (Spec, error) {
	s := Spec{Kind: strings.ToLower(u.Scheme)}
	var bad []string
	if u.User != nil {
		s.User = u.User.Username()
		s.Password, _ = u.User.Password()
	}
	host := u.Hostname()
	if host == "" {
		bad = append(bad, "host: missing")
	} else if !validHost(host) {
		bad = append(bad, fmt.Sprintf("host %q: want a host name or an IP address", host))
	}
	port := DefaultPort
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			bad = append(bad, fmt.Sprintf("port %q: want 1-65535", p))
		}
		port = n
	} else if strings.HasSuffix(u.Host, ":") {
		bad = append(bad, `port "": want 1-65535`)
	}
	s.Addr = net.JoinHostPort(host, strconv.Itoa(port))
	if p := strings.TrimPrefix(u.Path, "/"); p != "" {
		n, msg := parseDB(p)
		if msg != "" {
			bad = append(bad, msg)
		}
		s.DB = n
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		bad = append(bad, "query: "+err.Error())
	}
	for key, vals := range q {
		v := vals[len(vals)-1]
		switch {
		case s.Kind == KindRediss && key == "sni":
			if v == "" {
				bad = append(bad, "sni: empty")
			}
			s.ServerName = v
		case s.Kind == KindRediss && (key == "ca_cert" || key == "client_cert" || key == "client_key"):
			if v == "" {
				bad = append(bad, key+": empty")
			}
			switch key {
			case "ca_cert":
				s.CAFile = v
			case "client_cert":
				s.CertFile = v
			default:
				s.KeyFile = v
			}
		case s.Kind == KindRediss && key == "insecure_skip_verify":
			b, err := strconv.ParseBool(v)
			if err != nil {
				bad = append(bad, fmt.Sprintf("insecure_skip_verify %q: want true or false", v))
			}
			s.InsecureSkipVerify = b
		default:
			bad = append(bad, fmt.Sprintf("query parameter %q: unknown for %s://", key, s.Kind))
		}
	}
	if u.Fragment != "" {
		bad = append(bad, "fragment: not allowed")
	}
	if (s.CertFile == "") != (s.KeyFile == "") {
		bad = append(bad, "client_cert and client_key: give both or neither")
	}
	if bad != nil {
		return Spec{}, specErr(spec, bad)
	}
	return s, nil
}

func parseUnix(spec string, u *url.URL) (Spec, error) {
	s := Spec{Kind: KindUnix, Addr: u.Path}
	var bad []string
	if u.User != nil {
		bad = append(bad, "user info: not allowed in unix://, use ?user=...&password=...")
	}
	if u.Host != "" {
		bad = append(bad, fmt.Sprintf("host %q: not allowed, write unix:///absolute/path.sock", u.Host))
	}
	switch {
	case u.Path == "":
		bad = append(bad, "socket path: missing")
	case !filepath.IsAbs(u.Path):
		bad = append(bad, fmt.Sprintf("socket path %q: must be absolute", u.Path))
	case len(u.Path) > MaxSocketPath:
		bad = append(bad, fmt.Sprintf("socket path: %d bytes, longer than the %d a unix socket allows", len(u.Path), MaxSocketPath))
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		bad = append(bad, "query: "+err.Error())
	}
	for key, vals := range q {
		v := vals[len(vals)-1]
		switch key {
		case "db":
			n, msg := parseDB(v)
			if msg != "" {
				bad = append(bad, msg)
			}
			s.DB = n
		case "user":
			s.User = v
		case "password":
			s.Password = v
		default:
			bad = append(bad, fmt.Sprintf("query parameter %q: unknown for unix:// (want db, user, password)", key))
		}
	}
	if u.Fragment != "" {
		bad = append(bad, "fragment: not allowed")
	}
	if bad != nil {
		return Spec{}, specErr(spec, bad)
	}
	return s, nil
}

// validHost accepts an IP address (IPv6 with an optional zone) or a DNS-style host name.
func validHost(h string) bool {
	if _, err := netip.ParseAddr(h); err == nil {
		return true
	}
	for _, c := range h {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_') {
			return false
		}
	}
	return true
}

// parseDB parses a database number; msg is "" when it is good.
func parseDB(v string) (int, string) {
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > math.MaxInt32 {
		return 0, fmt.Sprintf("db number %q: want an integer 0 or more", v)
	}
	return n, ""
}

func specErr(spec string, bad []string) error {
	slices.Sort(bad) // stable text whatever the map order of query parameters was
	return fmt.Errorf("%w %q: %s", ErrSpec, redactRaw(spec), strings.Join(bad, "; "))
}

// String renders the spec as a normalised URL with the password replaced by "xxxxx".
func (s Spec) String() string {
	switch s.Kind {
	case KindAuto, KindManaged, KindEmbedded:
		return s.Kind
	case KindRedis, KindRediss:
		u := url.URL{Scheme: s.Kind, Host: s.Addr}
		switch {
		case s.Password != "":
			u.User = url.UserPassword(s.User, redacted)
		case s.User != "":
			u.User = url.User(s.User)
		}
		if s.DB != 0 {
			u.Path = "/" + strconv.Itoa(s.DB)
		}
		q := url.Values{}
		if s.ServerName != "" {
			q.Set("sni", s.ServerName)
		}
		if s.InsecureSkipVerify {
			q.Set("insecure_skip_verify", "true")
		}
		for k, v := range map[string]string{"ca_cert": s.CAFile, "client_cert": s.CertFile, "client_key": s.KeyFile} {
			if v != "" {
				q.Set(k, v)
			}
		}
		u.RawQuery = q.Encode()
		return u.String()
	case KindUnix:
		u := url.URL{Scheme: KindUnix, Path: s.Addr}
		q := url.Values{}
		if s.DB != 0 {
			q.Set("db", strconv.Itoa(s.DB))
		}
		if s.User != "" {
			q.Set("user", s.User)
		}
		if s.Password != "" {
			q.Set("password", redacted)
		}
		u.RawQuery = q.Encode()
		return u.String()
	default:
		return "invalid backend spec"
	}
}

// redactRaw hides the password in a spec that may not parse (redact.KindURL).
func redactRaw(spec string) string { return redact.Secret(redact.KindURL, spec) }

// Engine says what serves an instance's data, for `moat instance describe` and the console; package
// backend fills it in (backend.EngineOf).
type Engine struct {
	// Kind is EngineManaged, EngineInProcess or EngineExternal.
	Kind string
	// Server, Version and Path name the binary of a managed server; PID is its running process, 0
	// while it restarts.
	Server, Version, Path string
	PID                   int
}

// Engine kinds.
const (
	EngineManaged   = "managed"    // a redis-server/valkey-server moat runs
	EngineInProcess = "in-process" // the in-process engine
	EngineExternal  = "external"   // a server reached by URL, which moat does not run
)
