package server

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/moat-dev/moat/internal/console"
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

// toConsole sends a browser that opens the API listener's root (a GET of "/" with no parameters,
// asking for HTML) to the console; every other request goes to the API as before.
func toConsole(apiHandler http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/" && r.Method == http.MethodGet && r.URL.RawQuery == "" &&
			r.Header.Get("x-acs-action") == "" && r.Header.Get("Authorization") == "" &&
			strings.Contains(r.Header.Get("Accept"), "text/html") {
			http.Redirect(w, r, console.Prefix, http.StatusFound)
			return
		}
		apiHandler.ServeHTTP(w, r)
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
