package backend

import "github.com/moat-dev/moat/internal/backend/spec"

// Spec is a parsed backend spec (package spec owns its syntax, so that the model can validate one
// without importing the data plane).
type Spec = spec.Spec

// Backend kinds, the values of Spec.Kind.
const (
	KindAuto     = spec.KindAuto
	KindManaged  = spec.KindManaged
	KindEmbedded = spec.KindEmbedded
	KindRedis    = spec.KindRedis
	KindRediss   = spec.KindRediss
	KindUnix     = spec.KindUnix
)

// maxSocketPath is the longest unix socket path accepted (spec.MaxSocketPath).
const maxSocketPath = spec.MaxSocketPath

// ErrSpec is wrapped by every ParseSpec error (spec.ErrSpec).
var ErrSpec = spec.ErrSpec

// ParseSpec parses a backend spec (spec.Parse).
func ParseSpec(s string) (Spec, error) { return spec.Parse(s) }
