package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/moat-dev/moat/internal/controlplane"
)

// AdminKeyFile is the name, under the data directory, of the file holding the administrator access key
// created on first start. It is also a CLI profile: `moat --profile <file> …`.
const AdminKeyFile = "admin-key.json"

// Profile is the JSON shape of a credentials file (the admin key file, or any CLI profile).
type Profile struct {
	AccessKeyId     string
	AccessKeySecret string
	Endpoint        string `json:",omitempty"`
}

// ensureAdminKey creates the administrator key (every action on every instance) when no key exists yet,
// and writes it to <data-dir>/admin-key.json with mode 0600. The secret is never logged. In a fleet, only
// the gateway that created it has the file.
func (s *Server) ensureAdminKey() error {
	path := filepath.Join(s.opts.DataDir, AdminKeyFile)
	s.adminKeyPath = path
	// The administrator may read password hashes (ACL backups): it names the secret action explicitly,
	// as every key that may must; "*" alone does not grant it. Created only if no key exists, in one
	// transaction: of gateways starting together on one shared store, one creates it.
	k, created, err := s.plane.CreateFirstKey(configActor, "administrator (created on first start)",
		[]string{"*", controlplane.ActionACLUserSecrets}, []string{"*"})
	if err != nil {
		return err
	}
	if !created {
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) && !s.opts.Store.shared() {
			s.log.Warn("the administrator key file is gone; use another key's credentials (the secret cannot be shown again)", "path", path)
		} else if err == nil {
			s.log.Info("administrator access key", "file", path)
		}
		return nil
	}
	b, _ := json.MarshalIndent(Profile{AccessKeyId: k.ID, AccessKeySecret: k.Secret, Endpoint: "http://" + s.apiAddr.String()}, "", "  ")
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("writing the administrator key: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("writing the administrator key: %w", err)
	}
	s.log.Info("administrator access key created", "access_key_id", k.ID, "file", path)
	return nil
}
