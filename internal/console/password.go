package console

import (
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/moat-dev/moat/internal/controlplane/model"
	"github.com/moat-dev/moat/internal/controlplane/store"
)

// PasswordFile is the name, under the data directory, of the file in which moat writes the console
// password it creates on first start (mode 0600). moat keeps only a salted PBKDF2 hash of it.
const PasswordFile = "console-password"

// passwordKey is where the hash lives in the state store.
const passwordKey = "console/password"

// pbkdf2Iterations follows OWASP's 2023 advice for PBKDF2-HMAC-SHA256. The password moat generates has
// about 119 bits of entropy, so this guards a copied state file rather than a guessable password.
const pbkdf2Iterations = 600_000

// passwordHash is the stored form of the console password.
type passwordHash struct {
	Algorithm  string    `json:"algorithm"` // "pbkdf2-sha256"
	Iterations int       `json:"iterations"`
	Salt       []byte    `json:"salt"`
	Hash       []byte    `json:"hash"`
	Created    time.Time `json:"created"`
}

func hashPassword(password string, iterations int) (passwordHash, error) {
	salt := make([]byte, 16)
	rand.Read(salt)
	sum, err := pbkdf2.Key(sha256.New, password, salt, iterations, 32)
	if err != nil {
		return passwordHash{}, err
	}
	return passwordHash{Algorithm: "pbkdf2-sha256", Iterations: iterations, Salt: salt, Hash: sum, Created: time.Now().UTC()}, nil
}

// matches reports whether password is the one hashed, in time independent of where they differ.
func (p passwordHash) matches(password string) bool {
	if p.Algorithm != "pbkdf2-sha256" || p.Iterations < 1 || len(p.Hash) == 0 {
		return false
	}
	sum, err := pbkdf2.Key(sha256.New, password, p.Salt, p.Iterations, len(p.Hash))
	return err == nil && subtle.ConstantTimeCompare(sum, p.Hash) == 1
}

// EnsurePassword creates the console password on first start: it writes the password to
// <DataDir>/console-password (0600) and stores only its hash. It returns the file's path and whether
// the password was created now. Later starts change nothing (the operator may delete the file once the
// password is noted).
func (c *Console) EnsurePassword() (path string, created bool, err error) {
	path = filepath.Join(c.cfg.DataDir, PasswordFile)
	if _, err := c.loadPassword(); err == nil {
		return path, false, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return path, false, err
	}
	password := model.Random("abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789", 20) // no 0/O, 1/l/I
	h, err := hashPassword(password, c.iterations())
	if err != nil {
		return path, false, err
	}
	b, _ := json.Marshal(h)
	// The file first: if storing the hash then fails, the next start makes a new password and file.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(password+"\n"), 0o600); err != nil {
		return path, false, fmt.Errorf("writing the console password: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return path, false, fmt.Errorf("writing the console password: %w", err)
	}
	// Stored only if no hash is yet: of gateways starting together on one shared store, one sets it.
	won := false
	err = c.cfg.Store.Update(func(tx store.Tx) error {
		won = false
		if _, err := tx.Get(passwordKey); !errors.Is(err, store.ErrNotFound) {
			return err
		}
		won = true
		return tx.Put(passwordKey, b)
	})
	if err != nil {
		return path, false, fmt.Errorf("storing the console password's hash: %w", err)
	}
	if !won { // another gateway's password is the console's: ours names none
		os.Remove(path)
		return path, false, nil
	}
	return path, true, nil
}

func (c *Console) loadPassword() (passwordHash, error) {
	var h passwordHash
	err := c.cfg.Store.View(func(tx store.Tx) error {
		b, err := tx.Get(passwordKey)
		if err != nil {
			return err
		}
		return json.Unmarshal(b, &h)
	})
	return h, err
}

// checkPassword reports whether password is the console password. It costs one PBKDF2 derivation
// whether or not a password is set.
func (c *Console) checkPassword(password string) bool {
	c.passwordChecks.Add(1)
	h, err := c.loadPassword()
	if err != nil {
		(passwordHash{Algorithm: "pbkdf2-sha256", Iterations: c.iterations(), Hash: make([]byte, 32)}).matches(password)
		return false
	}
	return h.matches(password)
}

func (c *Console) iterations() int {
	if c.cfg.PasswordIterations > 0 {
		return c.cfg.PasswordIterations
	}
	return pbkdf2Iterations
}

// encode is the cookie and token alphabet.
var encode = base64.RawURLEncoding.EncodeToString

// PasswordChecks returns how many password logins have been evaluated (each one PBKDF2 derivation):
// attempts turned away by the rationing (limiter.go) are not.
func (c *Console) PasswordChecks() int64 { return c.passwordChecks.Load() }
