package console

import (
	"encoding/json"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/moat-dev/moat/internal/controlplane"
	"github.com/moat-dev/moat/internal/controlplane/api"
)

// api passes one call from the page to the control-plane API, as the session's caller. The body is
// the API's own form (Action, Version and the action's parameters); the answer is the API's own JSON,
// errors included. Only the session, the CSRF token and the origin are checked here.
func (c *Console) api(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		consoleError(w, http.StatusMethodNotAllowed, "ConsoleMethodNotAllowed", "Use POST.")
		return
	}
	s, state := c.session(r)
	switch state {
	case expiredSession:
		consoleError(w, http.StatusUnauthorized, "ConsoleSessionExpired", "Your console session expired. Log in again.")
		return
	case noSession:
		consoleError(w, http.StatusUnauthorized, "ConsoleLoginRequired", "Log in to the console first.")
		return
	}
	if !sameOrigin(r) {
		consoleError(w, http.StatusForbidden, "ConsoleCrossOrigin", "Requests from another site are refused.")
		return
	}
	// The token travels in a header: a form on another site cannot set one, and reading the body for a
	// form field first would consume it.
	if tok := r.Header.Get("X-CSRF-Token"); tok == "" || !validCSRF(r, s) {
		consoleError(w, http.StatusForbidden, "ConsoleCSRF", "The request's CSRF token is missing or wrong. Reload the page.")
		return
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/x-www-form-urlencoded" {
		consoleError(w, http.StatusUnsupportedMediaType, "ConsoleContentType", "Send the API's parameters as application/x-www-form-urlencoded.")
		return
	}
	ctx := api.AsKey(r.Context(), s.principal)
	if s.byPassword {
		ctx = api.AsPrincipal(r.Context(), controlplane.AccessKey{ID: PasswordPrincipal, Actions: []string{"*"}, Instances: []string{"*"}})
	}
	call := r.Clone(ctx)
	call.URL = &url.URL{Path: "/"} // parameters come from the body only
	call.RequestURI = "/"
	call.Header.Del("Cookie")
	call.Header.Del("Authorization")
	call.Header.Del("X-CSRF-Token")
	for k := range call.Header {
		if strings.HasPrefix(http.CanonicalHeaderKey(k), "X-Acs-") {
			delete(call.Header, k) // Action and Version come from the form, as the page sent them
		}
	}
	rec := &statusRecorder{ResponseWriter: w}
	c.cfg.API.ServeHTTP(rec, call)
	if rec.status == http.StatusNotFound && !s.byPassword {
		if _, err := c.cfg.Plane.Key(s.principal); err != nil {
			c.endSessionsOf(s.principal) // the key was deleted: its sessions end with it
		}
	}
}

// statusRecorder notes the status the API answered with.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// consoleError answers in the API's error shape, so the page handles one shape.
func consoleError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"Code": code, "Message": msg, "RequestId": "", "HostId": "moat", "Recommend": ""})
}
