package controlplane

import (
	"errors"
	"strings"
	"sync"

	"github.com/moat-dev/moat/internal/controlplane/store"
)

// keyCache keeps the access keys Plane.Key last read (and, in a fleet, every stored key: Reloaded), for
// one use only: answering Key while a shared store cannot be reached. A key is dropped when the store says it is gone, when this plane deletes it
// and when another gateway changes it (Plane.Changed), so a key deleted anywhere stops signing here as
// soon as the change is seen. The zero value is empty and ready; it is safe for concurrent use.
type keyCache struct {
	mu   sync.Mutex
	keys map[string]AccessKey
}

// seen records the outcome of reading key id from the store and returns what Key answers: the read
// key, or, when the store was unavailable, the key as last read (with no error) if there is one.
func (c *keyCache) seen(id string, k AccessKey, err error) (AccessKey, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case err == nil:
		if c.keys == nil {
			c.keys = map[string]AccessKey{}
		}
		c.keys[id] = k
	case errors.Is(err, store.ErrUnavailable):
		if old, ok := c.keys[id]; ok {
			return old, nil
		}
	default:
		delete(c.keys, id)
	}
	return k, err
}

func (c *keyCache) forget(id string) {
	c.mu.Lock()
	delete(c.keys, id)
	c.mu.Unlock()
}

// Changed tells the plane the store keys another process sharing the store (a gateway of the fleet)
// changed, so that what the plane keeps of them is dropped: it keeps nothing else in memory (instances,
// users, groups, the console password and nonces are read from the store at each use).
func (p *Plane) Changed(keys []string) {
	for _, k := range keys {
		if id, ok := strings.CutPrefix(k, keyPrefix); ok {
			p.keys.forget(id)
		}
	}
}

// Reloaded tells the plane that another process's changes may not all have been followed (a start,
// or the store's history compacted away): it replaces every access key it keeps with the keys stored
// now, so that a key this gateway has not used yet still signs calls to it during an outage. On error
// it keeps nothing.
func (p *Plane) Reloaded() error {
	var keys []AccessKey
	err := p.store.View(func(tx store.Tx) (err error) {
		keys, err = listJSON[AccessKey](tx, keyPrefix)
		return err
	})
	p.keys.mu.Lock()
	defer p.keys.mu.Unlock()
	p.keys.keys = nil
	if err != nil {
		return err
	}
	p.keys.keys = make(map[string]AccessKey, len(keys))
	for _, k := range keys {
		p.keys.keys[k.ID] = k
	}
	return nil
}
