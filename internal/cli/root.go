package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

// Exit codes scripts can rely on.
const (
	ExitOK      = 0 // done (for `check`: the address is allowed)
	ExitError   = 1 // the API refused the call or could not be reached
	ExitUsage   = 2 // bad flags or arguments
	ExitRefused = 3 // `check`: the address would be refused
)

// Options are the flags every client command shares.
type Options struct {
	Endpoint string
	KeyID    string
	Secret   string
	Profile  string
	Output   string
	// Getenv reads the environment (os.Getenv when nil; tests substitute).
	Getenv func(string) string
}

// profile is a credentials file: the administrator key file moat writes, or any file of that shape.
type profile struct {
	AccessKeyId     string
	AccessKeySecret string
	Endpoint        string
}

// DefaultEndpoint is where `moat serve` listens for the API by default.
const DefaultEndpoint = "http://127.0.0.1:6390"

// AddFlags adds the shared flags to a command (persistent, for every subcommand).
func (o *Options) AddFlags(cmd *cobra.Command) {
	f := cmd.PersistentFlags()
	f.StringVar(&o.Endpoint, "endpoint", "", "moat's API address (env MOAT_ENDPOINT; default: the profile's, else "+DefaultEndpoint+")")
	f.StringVar(&o.KeyID, "access-key-id", "", "access key ID (env MOAT_ACCESS_KEY_ID)")
	f.StringVar(&o.Secret, "access-key-secret", "", "access key secret (env MOAT_ACCESS_KEY_SECRET)")
	f.StringVar(&o.Profile, "profile", "", "credentials file with AccessKeyId, AccessKeySecret and Endpoint (env MOAT_PROFILE; default ./moat-data/admin-key.json when present)")
	f.StringVarP(&o.Output, "output", "o", "table", "table or json")
}

func (o *Options) getenv(k string) string {
	if o.Getenv != nil {
		return o.Getenv(k)
	}
	return os.Getenv(k)
}

// call resolves the client and invokes action (see Client.Call).
func (o *Options) call(action string, params map[string]string, out any) error {
	c, err := o.client()
	if err != nil {
		return err
	}
	return c.Call(action, params, out)
}

// client resolves credentials: flags, then environment, then the profile file.
func (o *Options) client() (*Client, error) {
	// Check --output before any call: a bad value must not leave a change made and unreported.
	if o.Output != "table" && o.Output != "json" && o.Output != "" {
		return nil, usageError{fmt.Errorf("--output %q: want table or json", o.Output)}
	}
	c := &Client{Endpoint: o.Endpoint, KeyID: o.KeyID, Secret: o.Secret}
	if c.Endpoint == "" {
		c.Endpoint = o.getenv("MOAT_ENDPOINT")
	}
	if c.KeyID == "" {
		c.KeyID = o.getenv("MOAT_ACCESS_KEY_ID")
	}
	if c.Secret == "" {
		c.Secret = o.getenv("MOAT_ACCESS_KEY_SECRET")
	}
	path := o.Profile
	if path == "" {
		path = o.getenv("MOAT_PROFILE")
	}
	explicit := path != ""
	if path == "" {
		path = filepath.Join("moat-data", "admin-key.json")
	}
	if c.KeyID == "" || c.Secret == "" || c.Endpoint == "" {
		b, err := os.ReadFile(path)
		switch {
		case err == nil:
			var p profile
			if err := json.Unmarshal(b, &p); err != nil {
				return nil, fmt.Errorf("profile %s: %w", path, err)
			}
			if c.KeyID == "" && c.Secret == "" {
				c.KeyID, c.Secret = p.AccessKeyId, p.AccessKeySecret
			}
			if c.Endpoint == "" {
				c.Endpoint = p.Endpoint
			}
		case explicit || !errors.Is(err, os.ErrNotExist):
			return nil, fmt.Errorf("profile: %w", err)
		}
	}
	if c.Endpoint == "" {
		c.Endpoint = DefaultEndpoint
	}
	if c.KeyID == "" || c.Secret == "" {
		return nil, usageError{errors.New("no credentials: pass --profile <data-dir>/admin-key.json, or --access-key-id and --access-key-secret, or set MOAT_ACCESS_KEY_ID and MOAT_ACCESS_KEY_SECRET")}
	}
	return c, nil
}

// usageError marks mistakes in the command line (exit code 2).
type usageError struct{ error }

// refusedError is `check`'s negative verdict (exit code 3).
type refusedError struct{ error }

// ExitCode maps an error from a command to the process exit code.
func ExitCode(err error) int {
	var u usageError
	var r refusedError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &r):
		return ExitRefused
	case errors.As(err, &u):
		return ExitUsage
	}
	return ExitError
}

// IsUsage wraps a cobra flag/argument error as a usage error.
func IsUsage(err error) error { return usageError{err} }

// emit prints v as JSON (--output json) or calls table to print it for people.
func (o *Options) emit(w io.Writer, v any, table func(*tabwriter.Writer)) error {
	switch o.Output {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false) // ACL rules hold & < >: print them as they are
		return enc.Encode(v)
	case "table", "":
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		table(tw)
		return tw.Flush()
	}
	return usageError{fmt.Errorf("--output %q: want table or json", o.Output)}
}

// instanceFlag declares --instance, the instance a command acts on, into v.
func instanceFlag(cmd *cobra.Command, v *string) {
	cmd.Flags().StringVar(v, "instance", "", "instance ID (r-…)")
}

// accountFlag declares --name, the account (ACL user) a command acts on, into v.
func accountFlag(cmd *cobra.Command, v *string) {
	cmd.Flags().StringVar(v, "name", "", "account name")
}

// required marks flags required. A missing one is a usage error (exit code 2): the check runs in
// PreRunE, before cobra's own, whose error would exit 1.
func required(cmd *cobra.Command, names ...string) {
	for _, n := range names {
		cmd.MarkFlagRequired(n)
	}
	cmd.PreRunE = func(c *cobra.Command, _ []string) error {
		var missing []string
		for _, n := range names {
			if !c.Flags().Changed(n) {
				missing = append(missing, n)
			}
		}
		if len(missing) > 0 {
			return usageError{fmt.Errorf("required flag(s) \"%s\" not set", strings.Join(missing, `", "`))}
		}
		return nil
	}
}
