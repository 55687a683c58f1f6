package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/moat-dev/moat/internal/console"
	"github.com/moat-dev/moat/internal/controlplane/api"
)

// mountConsole serves the web console under /console/ on the API listener. The console sends every
// call to apiHandler in-process, as its logged-in user. The console password is created here on first
// start.
func (s *Server) mountConsole(mux *http.ServeMux, apiHandler http.Handler) error {
	c := console.New(console.Config{Plane: s.plane, API: apiHandler, DataDir: s.opts.DataDir, Log: s.log})
	path, created, err := c.EnsurePassword(configActor)
	if err != nil {
		return err
	}
	if created {
		s.log.Info("web console password created", "file", path)
	}
	mux.Handle(console.Prefix, c)
	return nil
}

// toConsole answers a bare GET of the API listener's root ("/" with no parameters, no body, no action
// header and no signature), which is no API call: a browser (asking for HTML) is sent to the console,
// anything else (curl) is told where the console and the API are (rootIndex). Every other request goes
// to the API as before.
func toConsole(apiHandler http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" || r.Method != http.MethodGet || r.URL.RawQuery != "" || r.ContentLength != 0 ||
			r.Header.Get("x-acs-action") != "" || r.Header.Get("Authorization") != "" {
			apiHandler.ServeHTTP(w, r)
			return
		}
		if strings.Contains(r.Header.Get("Accept"), "text/html") {
			http.Redirect(w, r, console.Prefix, http.StatusFound)
			return
		}
		rootIndex(w, r)
	})
}

// rootIndex says, in JSON, what the API listener serves and where: the console's address and how API
// calls are made. The addresses use the request's Host, which the Host guard has already accepted.
func rootIndex(w http.ResponseWriter, r *http.Request) {
	base := "http://" + r.Host
	if r.TLS != nil {
		base = "https://" + r.Host
	}
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	enc.Encode(struct {
		Message, Console, API string
		Versions              []string
		Health                []string
	}{
		Message: "This is moat's API listener. Open the web console in a browser. API calls are RPC style " +
			"(Action and Version in the query or a form body) signed with an access key: the moat CLI " +
			"(moat --help) and Alibaba Cloud's SDKs make them.",
		Console:  base + console.Prefix,
		API:      base + "/",
		Versions: []string{api.VersionKVStore + " (R-kvstore: instances, whitelists, accounts)", api.VersionECS + " (ECS: security groups, hosts)"},
		Health:   []string{base + "/healthz", base + "/readyz", base + "/metrics (with the status token)"},
	})
}

// consoleBanner tells the operator where the console is and how to log in.
func (s *Server) consoleBanner() {
	url := "http://" + s.apiAddr.String() + console.Prefix
	path := filepath.Join(s.opts.DataDir, console.PasswordFile)
	how := "with an access key (its ID and secret) or the console password"
	if _, err := os.Stat(path); err == nil {
		how = fmt.Sprintf("with the password in %s, or with an access key", path)
	} else if !errors.Is(err, os.ErrNotExist) {
		s.log.Warn("cannot read the console password file", "file", path, "err", err)
	}
	s.log.Info("web console", "url", url)
	fmt.Fprintf(s.opts.Banner, "  Web console: %s — log in %s.\n\n", url, how)
}
