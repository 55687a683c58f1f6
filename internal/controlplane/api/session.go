package api

import (
	"context"

	"github.com/moat-dev/moat/internal/controlplane"
	"github.com/moat-dev/moat/internal/controlplane/api/sign"
)

// Calls authenticated by moat itself. The web console logs its users in (with an access key's ID and
// secret, or with the console password) and then sends their calls to this Handler in-process, with
// the caller in the request's context instead of a signature. Everything after authentication is the
// same as for a signed call: the action table, the version check, the key's policy, validation, the
// audit log (the actor is the caller's key ID and the request's source address) and the responses.
// Only code in this process can put a caller in a request's context; nothing from the network can.

type callerKey struct{}

// caller is who an in-process call is made for.
type caller struct {
	keyID string                  // an access key, looked up on every call (a deleted key stops working at once)
	fixed *controlplane.AccessKey // or a principal that is not a stored key (the console password)
}

// AsKey returns ctx carrying an authenticated caller: the access key keyID, whose current policy is
// looked up on every call. The caller must have checked the key's secret.
func AsKey(ctx context.Context, keyID string) context.Context {
	return context.WithValue(ctx, callerKey{}, caller{keyID: keyID})
}

// AsPrincipal returns ctx carrying an authenticated caller that is not a stored access key, with the
// policy given in k (k.ID is what the audit log names; k.Secret is ignored). The console password's
// sessions use it.
func AsPrincipal(ctx context.Context, k controlplane.AccessKey) context.Context {
	k.Secret = ""
	return context.WithValue(ctx, callerKey{}, caller{keyID: k.ID, fixed: &k})
}

// inProcess reports whether ctx carries a caller moat authenticated itself.
func inProcess(ctx context.Context) bool {
	_, ok := ctx.Value(callerKey{}).(caller)
	return ok
}

// verify authenticates a call: by the caller in ctx when moat put one there, else by its signature.
// Either way the call spends its key's call rate, so that a console session cannot change (and audit)
// faster than the key's signed calls may.
func (h *Handler) verify(ctx context.Context, sr *sign.Request) (sign.Verified, error) {
	if c, ok := ctx.Value(callerKey{}).(caller); ok {
		if e := h.verifier.Spend(c.keyID); e != nil {
			return sign.Verified{}, e
		}
		return sign.Verified{AccessKeyID: c.keyID}, nil
	}
	return h.verifier.Verify(sr)
}

// key returns the policy of the authenticated caller id.
func (h *Handler) key(ctx context.Context, id string) (controlplane.AccessKey, error) {
	if c, ok := ctx.Value(callerKey{}).(caller); ok && c.fixed != nil && c.keyID == id {
		return *c.fixed, nil
	}
	return h.plane.Key(id)
}
