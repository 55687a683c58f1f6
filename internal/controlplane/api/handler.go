// Package api serves moat's control plane as an RPC-style HTTP API compatible with Alibaba Cloud's
// R-kvstore (2015-01-01): the official SDK, the aliyun CLI and moat's own CLI call it unchanged.
//
// Every call is signed (V1 HMAC-SHA1 or V3 ACS3-HMAC-SHA256), checked against the calling key's
// policy, and answered in JSON with a RequestId; errors are non-2xx with string RequestId, HostId, Code,
// Message and Recommend. Changes go through the control plane, which makes them durable and audits them
// before the data plane sees them — CreateInstance too: the data plane starts an instance once it is stored.
//
// It calls the control plane and reads compiled snapshots; it must not import the gateway, the backend, the
// server or the console (what a refused connection reads is the snapshot's verdict, what a backend is refused
// for is spec's).
package api

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"

	"golang.org/x/time/rate"

	"github.com/moat-dev/moat/internal/controlplane"
	"github.com/moat-dev/moat/internal/controlplane/api/sign"
	"github.com/moat-dev/moat/internal/controlplane/model"
	"github.com/moat-dev/moat/internal/redact"
)

// Request bounds.
const (
	maxBody      = 1 << 20   // bytes of form body
	maxParams    = 2000      // parameters in query and body together
	maxParamSize = 256 << 10 // bytes of one value (1,000 whitelist entries fit easily)
)

// Versions of the APIs moat answers.
const (
	VersionKVStore = "2015-01-01"
	VersionECS     = "2014-05-26"
)

// Runtime is the part of moat that serves instances, as far as the API reports on it: it may implement
// EngineSource, RefusalSource, LockoutSource and ScriptsSource; nil reports nothing. The API starts and
// stops nothing itself: the data plane follows the control plane's changes (controlplane.Plane.Serve).
type Runtime any

// Handler serves the API. It is safe for concurrent use.
type Handler struct {
	plane    *controlplane.Plane
	runtime  Runtime
	verifier *sign.Verifier
	sources  *sourceLimits // failed authentications per source address (throttle.go)
	log      *slog.Logger
	actions  map[string]action
	failLog  *rate.Limiter // samples the log of refused signatures
	// ecs holds the actions of ECS 2014-05-26 (ecs.go); an Action may exist in both tables.
	ecs map[string]action
}

// action is one API action.
type action struct {
	versions []string
	// instance names the parameter holding the instance the call acts on ("" if none), for policies.
	instance []string
	run      func(c *call) (any, error)
}

// call is one request being served.
type call struct {
	h         *Handler
	r         *http.Request
	params    url.Values
	action    string
	requestID string
	actor     controlplane.Actor
	key       controlplane.AccessKey
	instance  string
}

// New returns a Handler with the default Limits.
func New(plane *controlplane.Plane, runtime Runtime, log *slog.Logger) *Handler {
	return NewWithLimits(plane, runtime, log, Limits{})
}

// NewWithLimits returns a Handler with the given budgets. Signature nonces are recorded in the plane's
// store (controlplane.NonceJournal) before a call is served, so a call replayed after a restart, or to
// another Handler over the same store, is refused with SignatureNonceUsed.
func NewWithLimits(plane *controlplane.Plane, runtime Runtime, log *slog.Logger, lim Limits) *Handler {
	h := &Handler{plane: plane, runtime: runtime, log: log, failLog: rate.NewLimiter(1, 10), sources: newSourceLimits(lim)}
	h.verifier = sign.NewVerifier(func(id string) (string, bool) {
		k, err := plane.Key(id)
		if err != nil {
			return "", false
		}
		return k.Secret, true
	})
	h.verifier.KeyRate, h.verifier.KeyBurst = lim.KeyRate, lim.KeyBurst
	h.verifier.MaxKeyNonces, h.verifier.MaxNonces = lim.KeyNonces, lim.Nonces
	h.verifier.Journal = plane.NonceJournal()
	h.actions = h.table()
	h.ecs = h.ecsTable()
	return h
}

// authLogText is an authentication error as the log shows it: a signature mismatch without the string to
// sign its answer carries, which holds the call's parameter values (a password being set, say); only
// the caller gets those.
func authLogText(err error) string {
	if errors.Is(err, sign.ErrSignatureDoesNotMatch) {
		return sign.CodeSignatureDoesNotMatch + ": the signature does not match moat's calculation"
	}
	return err.Error()
}

// ServeHTTP answers one RPC call at "/".
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c := &call{h: h, r: r, requestID: newRequestID()}
	result, err := c.serve()
	if err != nil {
		h.writeError(w, c, err)
		return
	}
	body, err := json.Marshal(result)
	if err != nil {
		h.writeError(w, c, err)
		return
	}
	// Every response carries RequestId: add it to the action's own object.
	var m map[string]json.RawMessage
	if json.Unmarshal(body, &m) != nil || m == nil {
		m = map[string]json.RawMessage{}
	}
	m["RequestId"], _ = json.Marshal(c.requestID)
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	json.NewEncoder(w).Encode(m)
}

func (c *call) serve() (any, error) {
	h := c.h
	if c.r.URL.Path != "/" {
		return nil, errActionNotFound
	}
	if c.r.Method != http.MethodGet && c.r.Method != http.MethodPost {
		return nil, errMethod
	}
	sr, err := c.readRequest()
	if err != nil {
		return nil, err
	}
	// A parameter and its header (V3) name one thing: two different values are refused, as a parameter
	// given twice is, so that nothing in front of moat can read one while moat acts on the other.
	for _, p := range [...]string{"Action", "Version"} {
		hvs := c.r.Header.Values("x-acs-" + strings.ToLower(p))
		if len(hvs) > 1 {
			return nil, headerConflict(p)
		}
		if v := c.params.Get(p); v != "" && len(hvs) == 1 && v != hvs[0] {
			return nil, headerConflict(p)
		}
	}
	c.action = first(c.params.Get("Action"), c.r.Header.Get("x-acs-action"))
	version := first(c.params.Get("Version"), c.r.Header.Get("x-acs-version"))
	act, err := c.find(version)
	if err != nil {
		c.recordIfSigned(sr, err)
		return nil, err
	}
	sr.ReadOnly = readOnlyActions[c.action]
	v, err := h.authenticate(c.r.Context(), c.r.RemoteAddr, sr) // a signature, or the console's session (session.go)
	if err != nil {
		if h.failLog.Allow() {
			h.log.Warn("API call refused: authentication failed", "action", c.action, "source", c.r.RemoteAddr, "err", authLogText(err))
		}
		return nil, err
	}
	c.key, err = h.key(c.r.Context(), v.AccessKeyID)
	if err != nil {
		return nil, err
	}
	c.actor = controlplane.Actor{KeyID: c.key.ID, Source: remoteIP(c.r)}
	for _, p := range act.instance {
		if c.instance = c.params.Get(p); c.instance != "" {
			break
		}
	}
	if !c.allowed() {
		h.log.Warn("API call denied by the key's policy", "key", c.key.ID, "action", c.action, "instance", c.instance, "source", c.actor.Source)
		h.plane.RecordFailure(c.actor, c.action, c.instance, controlplane.ResultDenied, errForbidden)
		return nil, errForbidden
	}
	out, err := act.run(c)
	if err != nil { // failed reads too; successful reads are not recorded, successful changes are (by the plane)
		h.plane.RecordFailure(c.actor, c.action, c.instance, controlplane.ResultError, err)
	}
	return out, err
}

// find returns the action the call names, by Action and Version (ecs.go). As on the provider's gateway,
// a missing or unknown action or version is refused before the signature is checked.
func (c *call) find(version string) (action, error) {
	if c.action == "" {
		return action{}, missing("Action")
	}
	act, ok := c.h.lookup(c.action, version)
	if !ok {
		return act, errActionNotFound
	}
	if version == "" {
		return act, missing("Version")
	}
	if !contains(act.versions, version) {
		return act, badVersion(c.action, version, act.versions)
	}
	return act, nil
}

// maxAuditedAction bounds the action name an audit entry records for a call naming no known action.
const maxAuditedAction = 128

// recordIfSigned audits a call refused before its signature was checked (cause) when it does carry a
// valid key's signature: failed calls by a valid key are recorded whatever failed. An unsigned or
// badly signed call is not recorded (and not logged here: it was refused for cause already).
func (c *call) recordIfSigned(sr *sign.Request, cause error) {
	v, err := c.h.authenticate(c.r.Context(), c.r.RemoteAddr, sr)
	if err != nil {
		return
	}
	k, err := c.h.key(c.r.Context(), v.AccessKeyID)
	if err != nil {
		return
	}
	action := c.action
	if len(action) > maxAuditedAction {
		action = action[:maxAuditedAction]
	}
	instance := first(c.params.Get("InstanceId"), c.params.Get("DBInstanceId"))
	if len(instance) > maxAuditedAction {
		instance = instance[:maxAuditedAction]
	}
	c.h.plane.RecordFailure(controlplane.Actor{KeyID: k.ID, Source: remoteIP(c.r)}, action, instance, controlplane.ResultError, cause)
}

// allowed reports whether the key's policy allows the call. DescribeInstances names no instance: a key
// allowed it on some instance may call it, and sees only the instances its policy names.
func (c *call) allowed() bool {
	if c.key.Allows(c.action, c.instance) {
		return true
	}
	if c.action == "DescribeInstances" && c.instance == "" {
		for _, in := range c.key.Instances {
			if c.key.Allows(c.action, in) {
				return true
			}
		}
	}
	return false
}

// readRequest collects the parameters from the query and a form body, within bounds.
func (c *call) readRequest() (*sign.Request, error) {
	body, err := io.ReadAll(io.LimitReader(c.r.Body, maxBody+1))
	if err != nil {
		return nil, badRequestBody(err)
	}
	if len(body) > maxBody {
		return nil, errTooLarge
	}
	sr, err := sign.FromHTTP(c.r, body)
	if err != nil {
		return nil, err
	}
	c.params = url.Values{}
	n := 0
	for _, vs := range []url.Values{sr.Query, sr.Form} {
		for k, v := range vs {
			n += len(v)
			for _, s := range v {
				if len(s) > maxParamSize {
					return nil, errTooLarge
				}
			}
			_, dup := c.params[k]
			if (dup || len(v) > 1) && inProcess(c.r.Context()) {
				// As a signed call's are (sign.Verify), which these calls skip: no first value wins.
				return nil, duplicateParam(k)
			}
			if !dup {
				c.params[k] = v
			}
		}
	}
	if n > maxParams {
		return nil, errTooLarge
	}
	return sr, nil
}

// required returns a parameter that must be present.
func (c *call) required(name string) (string, error) {
	v := c.params.Get(name)
	if v == "" {
		return "", missing(name)
	}
	return v, nil
}

// loadInstance reads the InstanceId parameter and loads that instance: MissingParameter without it,
// InvalidInstanceId.NotFound when no instance has that ID. Actions that only pass the ID on to the
// control plane, which loads the instance itself, read it with required.
func (c *call) loadInstance() (model.Instance, error) {
	id, err := c.required("InstanceId")
	if err != nil {
		return model.Instance{}, err
	}
	return c.h.plane.Instance(id)
}

// writeError answers the call with err as the provider's JSON error (mapError). A 5xx hides its cause
// from the caller, so the cause is logged here, redacted (redact.KindText), with the request id the
// caller sees.
func (h *Handler) writeError(w http.ResponseWriter, c *call, err error) {
	e := mapError(err)
	if e.Status >= 500 {
		h.log.Error("API call failed", "action", c.action, "request_id", c.requestID,
			"err", redact.Secret(redact.KindText, err.Error()))
	}
	w.Header().Set("Content-Type", jsonContentType)
	w.WriteHeader(e.Status)
	w.Write(errorJSON(c.requestID, c.r.Host, c.action, e))
}

const jsonContentType = "application/json;charset=utf-8"

// WriteError answers r with e as the provider's JSON error, for refusals made in front of the API
// handler (the HTTP listener's guards).
func WriteError(w http.ResponseWriter, r *http.Request, e *Error) {
	w.Header().Set("Content-Type", jsonContentType)
	w.WriteHeader(e.Status)
	w.Write(errorJSON(newRequestID(), r.Host, "", e))
}

// errorJSON is the body of an error answer as the provider's SDKs read it: RequestId, HostId (host, or
// "moat" if empty), Code, Message and Recommend, all strings, and a final newline.
func errorJSON(requestID, host, action string, e *Error) []byte {
	if host == "" {
		host = "moat"
	}
	b, _ := json.Marshal(map[string]string{
		"RequestId": requestID,
		"HostId":    host,
		"Code":      e.Code,
		"Message":   e.Message,
		"Recommend": "moat: see `moat --help` or README for " + orDash(action),
	})
	return append(b, '\n')
}

func orDash(s string) string {
	if s == "" {
		return "the API"
	}
	return s
}

func newRequestID() string {
	b := make([]byte, 16)
	rand.Read(b)
	s := strings.ToUpper(hex.EncodeToString(b))
	return s[0:8] + "-" + s[8:12] + "-" + s[12:16] + "-" + s[16:20] + "-" + s[20:32]
}

func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func first(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

var errListenInUse = errors.New("listen address cannot be bound")
