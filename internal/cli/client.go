// Package cli is moat's command-line client: one file per noun, each verb a signed call to moat's API.
// Output is a table for people or JSON (--output json) for scripts.
//
// It reaches moat only through the signed HTTP API: of moat it imports only the request signer and the
// model's types, never the control plane, the gateway or the server.
package cli

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/moat-dev/moat/internal/controlplane/api/sign"
)

// Client calls moat's API with V1 (HMAC-SHA1) signatures, as the cloud SDK does.
type Client struct {
	Endpoint string // http://host:port
	KeyID    string
	Secret   string
	HTTP     *http.Client
}

// APIError is an error answered by the API.
type APIError struct {
	Status    int
	Code      string
	Message   string
	RequestId string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("%s: %s (HTTP %d, request %s)", e.Code, e.Message, e.Status, e.RequestId)
}

// Call invokes action with params and decodes the JSON response into out (nil: discard). Parameters
// with an empty value are not sent.
func (c *Client) Call(action string, params map[string]string, out any) error {
	return c.CallVersion(action, "2015-01-01", params, out)
}

// CallVersion is Call for an API version: "2015-01-01" (R-kvstore) or "2014-05-26" (ECS).
func (c *Client) CallVersion(action, version string, params map[string]string, out any) error {
	form := url.Values{}
	for k, v := range params {
		if v != "" {
			form.Set(k, v)
		}
	}
	return c.CallValues(action, version, form, out)
}

// CallValues is CallVersion with the parameters sent exactly as given, empty values included.
func (c *Client) CallValues(action, version string, params url.Values, out any) error {
	form := url.Values{}
	for k, v := range params {
		form[k] = append([]string(nil), v...)
	}
	form.Set("Action", action)
	form.Set("Version", version)
	nonce := make([]byte, 16)
	rand.Read(nonce)
	sign.SignV1("POST", form, c.KeyID, c.Secret, time.Now(), hex.EncodeToString(nonce))
	endpoint := strings.TrimRight(c.Endpoint, "/") + "/"
	req, err := http.NewRequest("POST", endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return fmt.Errorf("endpoint %q: %w", c.Endpoint, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach moat at %s: %w (is `moat serve` running? set --endpoint)", c.Endpoint, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		e := &APIError{Status: resp.StatusCode}
		if json.Unmarshal(body, e) != nil || e.Code == "" {
			e.Code, e.Message = "HTTP"+fmt.Sprint(resp.StatusCode), strings.TrimSpace(string(body))
		}
		return e
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("decoding %s response: %w", action, err)
	}
	return nil
}
