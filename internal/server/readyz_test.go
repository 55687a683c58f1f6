package server

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/redistest"
)

// readyz returns /readyz's status code and body, as the holder of the status token sees them.
func readyz(t *testing.T, s *Server) (int, string) {
	t.Helper()
	return getStatus(t, "http://"+s.APIAddr().String()+"/readyz", s.StatusToken())
}

// getStatus GETs url, with token as a bearer token unless empty, and returns the status code and body.
func getStatus(t *testing.T, url, token string) (int, string) {
	t.Helper()
	c := http.Client{Timeout: 5 * time.Second}
	req, _ := http.NewRequest("GET", url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET /readyz: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET /readyz body: %v", err)
	}
	return resp.StatusCode, string(body)
}

// readyzBecomes polls /readyz until it answers code, and returns the body.
func readyzBecomes(t *testing.T, s *Server, code int, why string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, body := readyz(t, s)
		if got == code {
			return body
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: /readyz still %d after 10 s, want %d: %q", why, got, code, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A load balancer or orchestrator polling /readyz sees moat unready, with the instance named (to the
// holder of the status token; anyone else sees only "not ready"), while that instance's backend is
// down, and ready again as soon as the backend is back, without a restart of moat.
func TestReadyzFollowsTheBackend(t *testing.T) {
	redis := redistest.Start(t)
	s := start(t, Options{DataDir: t.TempDir(), Listen: freeAddr(t), Backend: "redis://" + redis.Addr})
	defer s.Close()
	insts, err := s.Plane().Instances()
	if err != nil || len(insts) != 1 {
		t.Fatalf("instances: %v %v", insts, err)
	}
	id := insts[0].ID

	if code, body := readyz(t, s); code != http.StatusOK || strings.TrimSpace(body) != "ready" {
		t.Fatalf("backend up: /readyz %d %q, want 200 ready", code, body)
	}

	redis.Stop()
	body := readyzBecomes(t, s, http.StatusServiceUnavailable, "backend stopped")
	if !strings.Contains(body, "instance "+id) || !strings.Contains(body, redis.Addr) {
		t.Fatalf("503 body does not name the instance %s and its backend %s: %q", id, redis.Addr, body)
	}
	if code, body := getStatus(t, "http://"+s.APIAddr().String()+"/readyz", ""); code != http.StatusServiceUnavailable || body != "not ready\n" {
		t.Fatalf("backend stopped, without the token: /readyz %d %q, want 503 \"not ready\" alone", code, body)
	}

	redis.Restart(t)
	if body := readyzBecomes(t, s, http.StatusOK, "backend restarted"); strings.TrimSpace(body) != "ready" {
		t.Fatalf("backend back: /readyz body %q", body)
	}
}
