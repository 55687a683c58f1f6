package server

import (
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/server/v3/embed"

	"github.com/moat-dev/moat/internal/config"
	"github.com/moat-dev/moat/internal/controlplane/store/etcdstore"
	"github.com/moat-dev/moat/internal/etcdtest"
	"github.com/moat-dev/moat/internal/redistest"
)

// A gateway given credentials etcd refuses — a wrong password, an unknown user — fails to start at
// once, with an error naming the user and the endpoint but never the password, instead of waiting for
// etcd as it does during an outage. The right credentials serve.
func TestFleetWrongEtcdPasswordFailsAtStart(t *testing.T) {
	endpoint := etcdtest.Embedded(t, func(c *embed.Config) { c.BcryptCost = 4 })
	const password = "s3cret-Pa55"
	etcdtest.EnableAuth(t, endpoint, "moat", password, etcdstore.DefaultPrefix)
	redis := redistest.Start(t)
	opts := func(user, pw string) Options {
		return Options{DataDir: t.TempDir(), Listen: "127.0.0.1:0", Backend: "redis://" + redis.Addr,
			Store: StoreOptions{Kind: config.StoreEtcd, Endpoints: []string{endpoint}, User: user, Password: pw}}
	}
	for _, c := range []struct{ user, password string }{{"moat", password + "x"}, {"nobody", password}} {
		o := opts(c.user, c.password)
		o.Log, o.APIListen = quiet(), "127.0.0.1:0"
		began := time.Now()
		s, err := Start(o)
		if err == nil {
			s.Close()
			t.Fatalf("user %q with a wrong password started", c.user)
		}
		msg := err.Error()
		if !strings.Contains(msg, `user "`+c.user+`"`) || !strings.Contains(msg, endpoint) || strings.Contains(msg, password) {
			t.Fatalf("user %q refused by etcd: %q; want the user and %s named, no password", c.user, msg, endpoint)
		}
		t.Logf("user %q: refused after %v: %v", c.user, time.Since(began).Round(time.Millisecond), err)
	}
	s := start(t, opts("moat", password))
	s.Close()
}
