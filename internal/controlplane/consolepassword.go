package controlplane

import (
	"errors"
	"fmt"

	"github.com/moat-dev/moat/internal/controlplane/store"
)

// consolePasswordKey is where the console password's stored form (the console's hash record) lives.
const consolePasswordKey = "console/password"

// ConsolePassword returns the stored form of the console password, as the console last stored it, or
// an error wrapping store.ErrNotFound when none is set. The plane does not read it: the console owns the
// hashing and the check.
func (p *Plane) ConsolePassword() ([]byte, error) {
	var b []byte
	err := p.store.View(func(tx store.Tx) (err error) {
		b, err = tx.Get(consolePasswordKey)
		return err
	})
	return b, err
}

// CreateConsolePassword stores hash as the console password's stored form if none is set yet, durably,
// with an audit entry that names the actor and holds nothing of the hash; it reports whether it stored
// it. When another process (a gateway sharing the store) set one first, it changes nothing and returns
// false: the caller must then discard the password it made.
func (p *Plane) CreateConsolePassword(a Actor, hash []byte) (created bool, err error) {
	if len(hash) == 0 {
		return false, errors.New("console password: empty hash")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	err = p.store.Update(func(tx store.Tx) error {
		created = false
		if _, err := tx.Get(consolePasswordKey); err == nil {
			return nil
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if err := tx.Put(consolePasswordKey, hash); err != nil {
			return err
		}
		created = true
		return p.appendAudit(tx, AuditEntry{Time: p.now(), KeyID: a.KeyID, Source: a.Source,
			Action: "CreateConsolePassword", Result: ResultOK})
	})
	if err != nil {
		return false, fmt.Errorf("storing the console password's hash: %w", err)
	}
	return created, nil
}
