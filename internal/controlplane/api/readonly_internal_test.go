package api

import (
	"strings"
	"testing"
)

// readOnlyActions names actions that exist, and every Describe, Export or Check action is among them:
// a read missing from the list would be refused during an outage, a change listed would be served
// without a durable nonce.
func TestReadOnlyActionsAreReads(t *testing.T) {
	h := &Handler{}
	all := map[string]bool{}
	for _, table := range []map[string]action{h.table(), h.ecsTable()} {
		for name := range table {
			all[name] = true
		}
	}
	for name := range readOnlyActions {
		if !all[name] {
			t.Errorf("readOnlyActions lists %q, which no table serves", name)
		}
	}
	for name := range all {
		read := false
		for _, verb := range []string{"Describe", "Export", "Check", "Plan", "Render"} {
			read = read || strings.HasPrefix(name, verb)
		}
		if read != readOnlyActions[name] {
			t.Errorf("action %q: read-only %v by its verb, %v in readOnlyActions", name, read, readOnlyActions[name])
		}
	}
}
