package api_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/controlplane/api/sign"
)

// The API's bounds on a request (handler.go): the form body, the number of parameters in query and body
// together, and the size of one value.
const (
	limitBody      = 1 << 20
	limitParams    = 2000
	limitParamSize = 256 << 10
)

// v1Fields is how many parameters a V1 signature adds besides Action and Version: AccessKeyId,
// SignatureMethod, SignatureVersion, SignatureNonce, Timestamp, Format and Signature.
const v1Fields = 7

// coverLim is the parameters of a ModifySecurityIps that covers group "lim" of inst with ips.
func coverLim(inst, ips string) url.Values {
	return url.Values{"Action": {"ModifySecurityIps"}, "Version": {"2015-01-01"}, "InstanceId": {inst},
		"SecurityIpGroupName": {"lim"}, "ModifyMode": {"Cover"}, "SecurityIps": {ips}}
}

// signedForm signs params (V1, POST, the administrator key, a fresh nonce) and returns them as a form body.
func (m *moat) signedForm(params url.Values) []byte {
	p := url.Values{}
	for k, v := range params {
		p[k] = append([]string(nil), v...)
	}
	sign.SignV1(http.MethodPost, p, m.keyID, m.secret, time.Now(), sign.NewNonce())
	return []byte(p.Encode())
}

// postForm sends body as a form POST to the API.
func (m *moat) postForm(body []byte) (int, []byte) {
	m.t.Helper()
	hr, err := http.NewRequest(http.MethodPost, "http://"+m.api+"/", strings.NewReader(string(body)))
	if err != nil {
		m.t.Fatal(err)
	}
	hr.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return m.send(hr, "")
}

// bodyOfSize returns a signed form body of exactly size bytes: params plus padding parameters the
// action ignores, none larger than a value may be.
func (m *moat) bodyOfSize(params url.Values, size int) []byte {
	m.t.Helper()
	p := url.Values{}
	for k, v := range params {
		p[k] = v
	}
	const chunk = 200_000
	n := 0
	for i := 0; (i+1)*chunk < size-60_000; i++ { // leave room for the signed fields and the last pad
		p.Set(fmt.Sprintf("MoatPad%d", i), strings.Repeat("x", chunk))
		n++
	}
	last := fmt.Sprintf("MoatPad%d", n)
	pad := 1
	for try := 0; try < 1000; try++ {
		p.Set(last, strings.Repeat("y", pad))
		body := m.signedForm(p)
		if len(body) == size {
			return body
		}
		// The signature's encoding varies by a few bytes from one nonce to the next; adjust and retry.
		pad = max(1, pad+size-len(body))
		if pad > limitParamSize {
			m.t.Fatalf("cannot pad a body to %d bytes", size)
		}
	}
	m.t.Fatalf("no body of exactly %d bytes", size)
	return nil
}

// lim returns the entries of group "lim" ("" if the group does not exist).
func (m *moat) lim() string {
	m.t.Helper()
	for _, g := range m.groups(m.inst) {
		if g.SecurityIpGroupName == "lim" {
			return g.SecurityIpList
		}
	}
	return ""
}

// Each bound: a request over it is refused with RequestTooLarge (413, the error JSON) and changes
// nothing; a request exactly at it is served.
func TestRequestSizeLimits(t *testing.T) {
	m := startMoat(t)
	tooLarge := func(name string, status int, body []byte, was string) {
		t.Helper()
		e := wantErrorJSON(t, status, body, http.StatusRequestEntityTooLarge, "RequestTooLarge")
		if !strings.Contains(e["Message"], "larger than moat accepts") {
			t.Fatalf("%s: message %q", name, e["Message"])
		}
		if got := m.lim(); got != was {
			t.Fatalf("%s: the refused request changed group lim to %q (was %q)", name, got, was)
		}
	}
	served := func(name string, status int, body []byte, want string) {
		t.Helper()
		if status != http.StatusOK {
			t.Fatalf("%s: HTTP %d %s", name, status, body)
		}
		if got := m.lim(); got != want {
			t.Fatalf("%s: group lim is %q, want %q", name, got, want)
		}
	}

	t.Run("body", func(t *testing.T) {
		body := m.bodyOfSize(coverLim(m.inst, "10.20.1.0/24"), limitBody)
		status, out := m.postForm(body)
		served("a body of exactly 1 MiB", status, out, "10.20.1.0/24")

		body = m.bodyOfSize(coverLim(m.inst, "10.20.2.0/24"), limitBody+1)
		status, out = m.postForm(body)
		tooLarge("a body of 1 MiB + 1 byte", status, out, "10.20.1.0/24")
	})

	t.Run("parameter count", func(t *testing.T) {
		withParams := func(total int, ips string) []byte {
			p := coverLim(m.inst, ips)
			for i := 0; len(p)+v1Fields < total; i++ {
				p.Set(fmt.Sprintf("MoatExtra%d", i), "1")
			}
			body := m.signedForm(p)
			if got, _ := url.ParseQuery(string(body)); len(got) != total {
				t.Fatalf("built %d parameters, want %d", len(got), total)
			}
			return body
		}
		status, out := m.postForm(withParams(limitParams, "10.20.3.0/24"))
		served("2,000 parameters", status, out, "10.20.3.0/24")
		status, out = m.postForm(withParams(limitParams+1, "10.20.4.0/24"))
		tooLarge("2,001 parameters", status, out, "10.20.3.0/24")

		// The count covers query and body together: 1,000 signed ones in the query and 1,001 in the body.
		p := coverLim(m.inst, "10.20.5.0/24")
		for i := 0; len(p)+v1Fields < 1000; i++ {
			p.Set(fmt.Sprintf("MoatExtra%d", i), "1")
		}
		signed := m.signedForm(p)
		form := url.Values{}
		for i := 0; i < 1001; i++ {
			form.Set(fmt.Sprintf("MoatBody%d", i), "1")
		}
		hr, _ := http.NewRequest(http.MethodPost, "http://"+m.api+"/?"+string(signed), strings.NewReader(form.Encode()))
		hr.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		status, out = m.send(hr, "")
		tooLarge("1,000 query + 1,001 body parameters", status, out, "10.20.3.0/24")
	})

	t.Run("parameter size", func(t *testing.T) {
		p := coverLim(m.inst, "10.20.6.0/24")
		p.Set("Description", strings.Repeat("d", limitParamSize))
		status, out := m.postForm(m.signedForm(p))
		served("a 256 KiB value", status, out, "10.20.6.0/24")

		p = coverLim(m.inst, "10.20.7.0/24")
		p.Set("Description", strings.Repeat("d", limitParamSize+1))
		status, out = m.postForm(m.signedForm(p))
		tooLarge("a 256 KiB + 1 byte value", status, out, "10.20.6.0/24")
	})
}
