package engine

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/moat-dev/moat/internal/redistest"
)

// infoShape is each section of an INFO reply with its field names, in order ("# Server: redis_version
// redis_git_sha1 …"). Fields named after commands, errors or databases are left out (they follow what
// ran); so is what depends on them alone.
func infoShape(t *testing.T, text string) []string {
	t.Helper()
	var out []string
	if text == "" {
		return nil
	}
	for _, sec := range strings.Split(strings.TrimSuffix(text, "\r\n"), "\r\n\r\n") {
		lines := strings.Split(sec, "\r\n")
		if !strings.HasPrefix(lines[0], "# ") {
			t.Fatalf("section %q does not start with its heading", sec)
		}
		s := lines[0] + ":"
		for _, l := range lines[1:] {
			name, _, ok := strings.Cut(l, ":")
			if !ok {
				t.Fatalf("line %q in %s: no colon", l, lines[0])
			}
			switch {
			case strings.HasPrefix(name, "cmdstat_"), strings.HasPrefix(name, "latency_percentiles_usec_"),
				strings.HasPrefix(name, "errorstat_"), strings.HasPrefix(name, "db"):
				continue
			}
			s += " " + name
		}
		out = append(out, s)
	}
	return out
}

// INFO has redis-server 7.0.15's sections, in its order, each with its fields in its order (compared
// with a real redis-server with appendonly on, as the engine is), for every way of choosing sections;
// and the values are the engine's.
func TestInfoAnswersAsRedis(t *testing.T) {
	srv := redistest.Start(t, "--appendonly", "yes")
	r := redis.NewClient(&redis.Options{Addr: srv.Addr, Protocol: 2})
	t.Cleanup(func() { r.Close() })
	s := openT(t, shortDir(t))
	c := s.resp2(t)
	ctx := context.Background()
	for _, cl := range []*redis.Client{r, c} {
		for _, cmd := range [][]any{{"SET", "a", "1"}, {"SET", "b", "2", "EX", "100"}, {"SELECT", "3"}, {"GET"}, {"XINFO", "GROUPS", "nokey"}} {
			cl.Do(ctx, cmd...)
		}
		cl.Do(ctx, "SELECT", "0")
	}
	for _, args := range [][]any{
		{"INFO"}, {"INFO", "default"}, {"INFO", "all"}, {"INFO", "everything"}, {"INFO", "server"},
		{"INFO", "Clients"}, {"INFO", "memory"}, {"INFO", "persistence"}, {"INFO", "stats"},
		{"INFO", "replication"}, {"INFO", "cpu"}, {"INFO", "modules"}, {"INFO", "commandstats"},
		{"INFO", "errorstats"}, {"INFO", "latencystats"}, {"INFO", "cluster"}, {"INFO", "keyspace"},
		{"INFO", "keyspace", "server"}, {"INFO", "nosuch"}, {"INFO", "nosuch", "cpu"},
	} {
		want, err := r.Do(ctx, args...).Text()
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.Do(ctx, args...).Text()
		if err != nil {
			t.Errorf("%v: %v", args, err)
			continue
		}
		if g, w := infoShape(t, got), infoShape(t, want); !slices.Equal(g, w) {
			t.Errorf("%v:\nengine       %q\nredis-server %q", args, g, w)
		}
	}
	all, _ := c.Do(ctx, "INFO", "everything").Text()
	for _, want := range []string{"redis_version:7.0.15\r\n", "connected_clients:", "aof_enabled:1\r\n",
		"db0:keys=2,expires=1,avg_ttl=", "cmdstat_set:calls=2,", "cluster_enabled:0\r\n",
		"latency_percentiles_usec_set:p50=", "role:master\r\n", "total_commands_processed:"} {
		if !strings.Contains(all, want) {
			t.Errorf("INFO everything has no %q:\n%s", want, all)
		}
	}
	// GET with no key and XINFO of a missing key: two ERR replies.
	if got := do(c, "INFO", "errorstats"); got != "# Errorstats\r\nerrorstat_ERR:count=2\r\n" {
		t.Errorf("INFO errorstats: %q", got)
	}
	// In a transaction and a script, over RESP3 (a verbatim string).
	c3 := s.client(t)
	if v, err := c3.Do(ctx, "INFO", "server").Text(); err != nil || !strings.HasPrefix(v, "# Server\r\nredis_version:7.0.15") {
		t.Errorf("INFO server over RESP3: %q, %v", v, err)
	}
	cmds, err := c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Do(ctx, "INFO", "cluster")
		return nil
	})
	if err != nil || cmds[0].(*redis.Cmd).Val() != "# Cluster\r\ncluster_enabled:0\r\n" {
		t.Errorf("INFO cluster in MULTI: %v, %v", cmds, err)
	}
	if v, err := c.Do(ctx, "EVAL", "return redis.call('info', 'replication')", "0").Text(); err != nil || !strings.Contains(v, "role:master") {
		t.Errorf("INFO from a script: %q, %v", v, err)
	}
}
