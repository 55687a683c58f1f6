package server

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/cli"
	"github.com/moat-dev/moat/internal/redistest"
)

// Issue 15.8, adversarial: every way a Redis Cluster node can become an instance's backend — at
// `moat serve`, through CreateInstance, or behind a name that later points at one — ends with nothing
// relayed to it and an error that says why.

const clusterWhy = "backend is a Redis Cluster node: moat cannot yet guard MOVED/ASK redirections"

func clusterNode(t *testing.T) *redistest.Server {
	return redistest.Start(t, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--requirepass", "Nodepw_9")
}

// adminClient is an API client with the administrator key moat wrote on first start.
func adminClient(t *testing.T, s *Server) *cli.Client {
	t.Helper()
	_, _, fields := readProfile(t, filepath.Join(s.opts.DataDir, AdminKeyFile))
	return &cli.Client{Endpoint: "http://" + s.APIAddr().String(), KeyID: fields["AccessKeyId"].(string), Secret: fields["AccessKeySecret"].(string)}
}

func TestServeRefusesClusterBackend(t *testing.T) {
	node := clusterNode(t)
	_, err := Start(Options{DataDir: t.TempDir(), Listen: freeAddr(t), APIListen: "127.0.0.1:0", Log: quiet(),
		Backend: "redis://:Nodepw_9@" + node.Addr})
	if err == nil || !strings.Contains(err.Error(), clusterWhy) || !strings.Contains(err.Error(), "redis://:xxxxx@"+node.Addr) {
		t.Fatalf("moat serve --backend <cluster node>: %v, want the refusal naming the backend and the reason", err)
	}
	if strings.Contains(err.Error(), "Nodepw_9") {
		t.Errorf("the error shows the backend password: %v", err)
	}
}

func TestCreateInstanceRefusesClusterBackend(t *testing.T) {
	node := clusterNode(t)
	s := start(t, Options{DataDir: t.TempDir(), Listen: freeAddr(t)})
	defer s.Close()
	c := adminClient(t, s)
	listen := freeAddr(t)
	err := c.Call("CreateInstance", map[string]string{"InstanceId": "r-cluster", "Listen": listen, "Backend": "redis://:Nodepw_9@" + node.Addr}, nil)
	var ae *cli.APIError
	if !errors.As(err, &ae) || ae.Status != 400 || ae.Code != "InvalidParameter.Backend" || !strings.Contains(ae.Message, clusterWhy) {
		t.Fatalf("CreateInstance with a cluster node: %v, want 400 InvalidParameter.Backend with the reason", err)
	}
	if strings.Contains(ae.Message, "Nodepw_9") {
		t.Errorf("the error shows the backend password: %v", ae.Message)
	}
	if _, err := s.Plane().Instance("r-cluster"); err == nil {
		t.Error("the refused instance was stored")
	}
	if s.Gateway("r-cluster") != nil {
		t.Error("the refused instance is served")
	}
}

// A backend name that points at a cluster node after moat started (a failover, a DNS change): once
// the lanes reconnect, clients get moat's "backend unavailable" and the node sees none of their
// commands.
func TestClusterBackendOnReconnectRelaysNothing(t *testing.T) {
	standalone := redistest.Start(t, "--requirepass", "Nodepw_9")
	node := clusterNode(t)
	front := redistest.StartFront(t, standalone.Addr)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "moat.yaml")
	listen := freeAddr(t)
	writeConfig(t, cfg, "instances:\n  - id: r-front\n    listen: ["+listen+"]\n    backend: redis://:Nodepw_9@"+front.Addr+
		"\n    whitelist:\n      - group: local\n        ips: [127.0.0.0/8]\n")
	s := start(t, Options{ConfigPath: cfg, DataDir: dir})
	defer s.Close()
	if got := do(t, listen, "127.0.0.2", "SET k v"); got != "+OK" {
		t.Fatalf("SET through the standalone backend: %q", got)
	}
	standalone.Stop() // every lane to it breaks
	front.Switch(node.Addr)
	for _, cmd := range []string{"GET k", "CLUSTER SLOTS", "SET k w", "PING"} {
		if got := do(t, listen, "127.0.0.2", cmd); got != "-ERR backend unavailable, try again later" {
			t.Errorf("%s with a cluster node behind the backend name: %q, want moat's refusal", cmd, got)
		}
	}
	stats := commandStats(t, node.Addr, "Nodepw_9")
	for _, c := range []string{"cmdstat_get", "cmdstat_set", "cmdstat_cluster"} { // not PING: redistest's readiness probe sends one
		if strings.Contains(stats, c) {
			t.Errorf("the cluster node ran a client's command (%s):\n%s", c, stats)
		}
	}
}

// commandStats returns INFO commandstats of the server at addr, read directly.
func commandStats(t *testing.T, addr, password string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(c, "AUTH %s\r\nINFO commandstats\r\n", password)
	br := bufio.NewReader(c)
	if line, err := br.ReadString('\n'); err != nil || line != "+OK\r\n" {
		t.Fatalf("AUTH: %q %v", line, err)
	}
	head, err := br.ReadString('\n')
	n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(head, "$")))
	if err != nil || n <= 0 {
		t.Fatalf("INFO commandstats: %q %v", head, err)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(br, body); err != nil {
		t.Fatal(err)
	}
	return string(body)
}
