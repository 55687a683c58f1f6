package api_test

import (
	"testing"

	"github.com/aliyun/alibaba-cloud-sdk-go/services/r_kvstore"

	"github.com/moat-dev/moat/internal/redistest"
	"github.com/moat-dev/moat/internal/server"
)

// DescribeInstanceAttribute and DescribeInstances say what serves each instance (BackendEngine, moat's
// own field): a managed redis-server with its version and PID for an instance without a backend, the
// in-process engine, or an external server. The official SDK still parses the answer.
func TestDescribeSaysWhichEngineServes(t *testing.T) {
	m := &moat{t: t, dir: t.TempDir(), tune: func(o *server.Options) { o.Backend = "" }}
	m.start()
	t.Cleanup(m.stop)
	ext := redistest.Start(t)
	m.mustCall("CreateInstance", map[string]string{"InstanceId": "r-inproc", "Backend": "embedded"})
	m.mustCall("CreateInstance", map[string]string{"InstanceId": "r-ext", "Backend": "redis://" + ext.Addr})

	engine := func(id string) map[string]any {
		t.Helper()
		out := m.mustCall("DescribeInstanceAttribute", map[string]string{"InstanceId": id})
		attr := out["Instances"].(map[string]any)["DBInstanceAttribute"].([]any)[0].(map[string]any)
		e, _ := attr["BackendEngine"].(map[string]any)
		return e
	}
	if e := engine(m.inst); e["Kind"] != "managed" || e["Server"] != "redis-server" || e["Version"] == "" || e["PID"].(float64) <= 0 {
		t.Errorf("default instance: BackendEngine %v, want a managed redis-server with its version and PID", e)
	}
	if e := engine("r-inproc"); e["Kind"] != "in-process" || len(e) != 1 {
		t.Errorf("r-inproc: BackendEngine %v, want in-process", e)
	}
	if e := engine("r-ext"); e["Kind"] != "external" || len(e) != 1 {
		t.Errorf("r-ext: BackendEngine %v, want external", e)
	}
	list := m.mustCall("DescribeInstances", nil)["Instances"].(map[string]any)["KVStoreInstance"].([]any)
	for _, x := range list {
		if e, _ := x.(map[string]any)["BackendEngine"].(map[string]any); e["Kind"] == nil {
			t.Errorf("DescribeInstances: %v lacks BackendEngine", x)
		}
	}

	req := at(m, r_kvstore.CreateDescribeInstanceAttributeRequest())
	req.InstanceId = m.inst
	resp, err := m.admin().DescribeInstanceAttribute(req)
	if err != nil || len(resp.Instances.DBInstanceAttribute) != 1 || resp.Instances.DBInstanceAttribute[0].InstanceId != m.inst {
		t.Fatalf("the SDK's DescribeInstanceAttribute: %v %+v", err, resp)
	}
}
