package server

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/controlplane/api/sign"
)

// rootGet sends one request, without a body, to the API listener (redirects not followed) and returns the status, the
// Location header and the body.
func rootGet(t *testing.T, method, url string, header map[string]string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	c := http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header.Get("Location"), string(b)
}

// `curl http://127.0.0.1:6390/` is told where the console and the API are; a browser is sent to the
// console; every request that carries an API parameter, an action header or a body is the API's, as
// before (an unsigned one refused, a signed GET served).
func TestRootSaysWhereConsoleAndAPIAre(t *testing.T) {
	s := start(t, Options{DataDir: t.TempDir(), Listen: freeAddr(t)})
	defer s.Close()
	base := "http://" + s.APIAddr().String()

	code, _, body := rootGet(t, "GET", base+"/", map[string]string{"Accept": "*/*", "User-Agent": "curl/8.5.0"})
	var index struct {
		Message, Console, API string
		Versions              []string
	}
	if err := json.Unmarshal([]byte(body), &index); err != nil || code != 200 {
		t.Fatalf("GET /: %d %v\n%s", code, err, body)
	}
	if index.Console != base+"/console/" || index.API != base+"/" || len(index.Versions) != 2 ||
		!strings.Contains(index.Message, "moat's API listener") || strings.Contains(body, "MissingParameter") {
		t.Errorf("GET /:\n%s", body)
	}

	if code, loc, _ := rootGet(t, "GET", base+"/", map[string]string{"Accept": "text/html,application/xhtml+xml"}); code != http.StatusFound || loc != "/console/" {
		t.Errorf("a browser's GET /: %d Location %q, want 302 /console/", code, loc)
	}

	apiError := func(what string, code int, body string) string {
		t.Helper()
		var e struct{ Code, Message, RequestId string }
		if err := json.Unmarshal([]byte(body), &e); err != nil || code < 400 || e.RequestId == "" {
			t.Fatalf("%s: %d %v, want an API error\n%s", what, code, err, body)
		}
		return e.Code
	}
	code, _, body = rootGet(t, "POST", base+"/", map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
	if c := apiError("POST / without parameters", code, body); c != "MissingParameter" {
		t.Errorf("POST / without parameters: %s, want MissingParameter", c)
	}
	code, _, body = rootGet(t, "GET", base+"/", map[string]string{"x-acs-action": "DescribeInstances"})
	if c := apiError("GET / with x-acs-action", code, body); c != "MissingParameter" {
		t.Errorf("GET / with x-acs-action and no version: %s, want MissingParameter (Version)", c)
	}
	code, _, body = rootGet(t, "GET", base+"/?Action=DescribeInstances&Version=2015-01-01", nil)
	if c := apiError("unsigned GET with parameters", code, body); c == "" || strings.Contains(body, "moat's API listener") {
		t.Errorf("unsigned GET with parameters: %s", body)
	}

	var p Profile
	b, err := os.ReadFile(s.AdminKeyPath())
	if err != nil || json.Unmarshal(b, &p) != nil {
		t.Fatalf("admin key file: %v", err)
	}
	q := url.Values{"Action": {"DescribeInstances"}, "Version": {"2015-01-01"}}
	sign.SignV1("GET", q, p.AccessKeyId, p.AccessKeySecret, time.Now(), "")
	code, _, body = rootGet(t, "GET", base+"/?"+q.Encode(), nil)
	if code != 200 || !strings.Contains(body, `"KVStoreInstance"`) {
		t.Errorf("signed GET DescribeInstances: %d\n%s", code, body)
	}
}
