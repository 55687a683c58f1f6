package etcdstore_test

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"

	"github.com/moat-dev/moat/internal/controlplane/store"
	"github.com/moat-dev/moat/internal/controlplane/store/etcdstore"
	"github.com/moat-dev/moat/internal/etcdtest"
	"github.com/moat-dev/moat/internal/tlsconf/tlstest"
)

// TLS with a client certificate (etcdctl's --cacert, --cert, --key) and user/password authentication:
// the store works with the right ones; a wrong password or user or a missing client certificate fails at
// Open with an error that names the cause and never holds the password (ErrAuth for refused credentials:
// the issue's fail-fast change; before, they were only ErrUnavailable).
func TestTLSAndPassword(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, "etcd-ca")
	caFile := ca.WriteCA(t, dir, "ca.pem")
	serverCert, serverKey := ca.Issue(t, tlstest.Options{CommonName: "etcd"}).Write(t, dir, "server")
	clientCert, clientKey := ca.Issue(t, tlstest.Options{CommonName: "moat", Client: true}).Write(t, dir, "client")
	endpoint := etcdtest.Embedded(t, func(c *embed.Config) {
		u, _ := url.Parse("https://127.0.0.1:0")
		c.ListenClientUrls, c.AdvertiseClientUrls = []url.URL{*u}, []url.URL{*u}
		c.ClientTLSInfo.CertFile, c.ClientTLSInfo.KeyFile = serverCert, serverKey
		c.ClientTLSInfo.TrustedCAFile, c.ClientTLSInfo.ClientCertAuth = caFile, true
	})
	if !strings.HasPrefix(endpoint, "https://") {
		t.Fatalf("endpoint %s is not https", endpoint)
	}
	const password = "s3cret-Pa55"
	// etcd checks a password with bcrypt: under -race on a loaded machine that outruns the default Timeout.
	tlsOpts := etcdstore.Options{Endpoints: []string{endpoint}, CACert: caFile, Cert: clientCert, Key: clientKey, Timeout: 30 * time.Second}

	// Enable authentication with a root user, over TLS.
	admin, err := etcdstore.Open(tlsOpts)
	if err != nil {
		t.Fatalf("open over TLS: %v", err)
	}
	admin.Close()
	enableAuth(t, tlsOpts, password)

	opts := tlsOpts
	opts.Username, opts.Password = "root", password
	s := openWith(t, opts)
	if err := s.Update(func(tx store.Tx) error { return tx.Put("k", []byte("v")) }); err != nil {
		t.Fatalf("update with TLS and password: %v", err)
	}

	// A user granted the prefix alone can do everything the store does, deletes (the fence) included.
	scoped := tlsOpts
	scoped.Username, scoped.Password = "moat", password
	scoped.Prefix = etcdstore.DefaultPrefix
	ms := openWith(t, scoped)
	for _, fn := range []func(tx store.Tx) error{
		func(tx store.Tx) error { return tx.Put("a/1", []byte("1")) },
		func(tx store.Tx) error {
			kvs, err := tx.List("a/")
			if err == nil && len(kvs) != 1 {
				err = errors.New("a/1 not listed")
			}
			if err == nil {
				err = tx.Delete("a/1")
			}
			return err
		},
	} {
		if err := ms.Update(fn); err != nil {
			t.Fatalf("user granted %s: %v", etcdstore.DefaultPrefix, err)
		}
	}
	outside := scoped
	outside.Prefix = "/other/"
	if _, err := etcdstore.Open(outside); !errors.Is(err, etcdstore.ErrAuth) || !strings.Contains(err.Error(), `user "moat"`) {
		t.Fatalf("user moat outside its prefix: %v, want ErrAuth naming the user", err)
	}

	// Refused credentials are ErrAuth (no use retrying), naming the user and the endpoint, not the password.
	wrong := tlsOpts
	wrong.Username, wrong.Password = "root", password+"x"
	unknown := tlsOpts
	unknown.Username, unknown.Password = "nobody", password
	for _, o := range []etcdstore.Options{wrong, unknown} {
		_, err := etcdstore.Open(o)
		if !errors.Is(err, etcdstore.ErrAuth) || !strings.Contains(err.Error(), `user "`+o.Username+`"`) ||
			!strings.Contains(err.Error(), endpoint) || strings.Contains(err.Error(), password) {
			t.Fatalf("open as %q with a wrong password: %v; want ErrAuth naming the user and endpoint, without the password", o.Username, err)
		}
	}
	noCert := opts
	noCert.Cert, noCert.Key = "", ""
	if _, err := etcdstore.Open(noCert); err == nil || strings.Contains(err.Error(), password) {
		t.Fatalf("open without the client certificate: %v; want an error, without the password", err)
	}
	t.Logf("wrong password: %v", func() error { _, err := etcdstore.Open(wrong); return err }())
}

// enableAuth adds user root with password and turns authentication on.
func enableAuth(t *testing.T, opts etcdstore.Options, password string) {
	t.Helper()
	info := transport.TLSInfo{TrustedCAFile: opts.CACert, CertFile: opts.Cert, KeyFile: opts.Key}
	tlsCfg, err := info.ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: opts.Endpoints, TLS: tlsCfg})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx := context.Background()
	if _, err := cli.UserAdd(ctx, "root", password); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.UserGrantRole(ctx, "root", "root"); err != nil {
		t.Fatal(err)
	}
	// User moat may read and write the default prefix only.
	if _, err := cli.RoleAdd(ctx, "moat"); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.RoleGrantPermission(ctx, "moat", etcdstore.DefaultPrefix, store.PrefixEnd(etcdstore.DefaultPrefix), clientv3.PermissionType(clientv3.PermReadWrite)); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.UserAdd(ctx, "moat", password); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.UserGrantRole(ctx, "moat", "moat"); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.AuthEnable(ctx); err != nil {
		t.Fatal(err)
	}
}
