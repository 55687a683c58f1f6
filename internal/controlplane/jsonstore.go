package controlplane

// Store codec: JSON values in the store, read, listed, written and compared.

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/moat-dev/moat/internal/controlplane/store"
)

func getJSON[T any](tx store.Tx, key string, notFound error, id string) (T, error) {
	var v T
	b, err := tx.Get(key)
	if errors.Is(err, store.ErrNotFound) {
		return v, fmt.Errorf("%q: %w", id, notFound)
	}
	if err != nil {
		return v, err
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return v, fmt.Errorf("stored %s: %w", key, err)
	}
	return v, nil
}

func listJSON[T any](tx store.Tx, prefix string) ([]T, error) {
	kvs, err := tx.List(prefix)
	if err != nil {
		return nil, err
	}
	out := make([]T, 0, len(kvs))
	for _, kv := range kvs {
		var v T
		if err := json.Unmarshal(kv.Value, &v); err != nil {
			return nil, fmt.Errorf("stored %s: %w", kv.Key, err)
		}
		out = append(out, v)
	}
	return out, nil
}

func putJSON(tx store.Tx, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return tx.Put(key, b)
}

func sameJSON(a, b any) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && string(ja) == string(jb)
}
