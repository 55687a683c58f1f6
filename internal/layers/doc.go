// Package layers holds no code: its test keeps moat's dependency arrows pointing one way, as
// DESIGN.md draws them — gateway → snapshot → {allowlist, acl, backend} → resp, the data plane never
// importing the control plane, and the control plane reaching the data plane only through snapshots.
// Every package's own doc comment says what it owns; the rules of what it must not import live here,
// checked on every `make test`.
package layers
