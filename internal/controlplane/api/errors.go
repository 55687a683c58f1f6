package api

import (
	"errors"
	"net/http"
	"strings"

	"github.com/moat-dev/moat/internal/allowlist"
	"github.com/moat-dev/moat/internal/backend"
	"github.com/moat-dev/moat/internal/controlplane"
	"github.com/moat-dev/moat/internal/controlplane/api/sign"
	"github.com/moat-dev/moat/internal/controlplane/model"
)

// Error is an API error as the provider's SDKs read it: an HTTP status and a code in the provider's
// style. Every error a caller can see is built here or in mapError.
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func missing(param string) *Error {
	return &Error{http.StatusBadRequest, "MissingParameter",
		"The input parameter \"" + param + "\" that is mandatory for processing this request is not supplied."}
}

func invalid(code, msg string) *Error { return &Error{http.StatusBadRequest, code, msg} }

var (
	errActionNotFound = &Error{http.StatusNotFound, "InvalidAction.NotFound", "Specified api is not found, please check your url and method."}
	errForbidden      = &Error{http.StatusForbidden, "Forbidden.RAM", "User not authorized to operate on the specified resource, or this API doesn't support RAM."}
	errTooLarge       = &Error{http.StatusRequestEntityTooLarge, "RequestTooLarge", "The request body or a parameter is larger than moat accepts."}
)

// codes maps the domain's sentinel errors to the provider-style code and status, in priority order:
// the first sentinel found in an error decides its code.
var codes = []struct {
	err    error
	status int
	code   string
}{
	{controlplane.ErrInstanceNotFound, 404, "InvalidInstanceId.NotFound"},
	{controlplane.ErrInstanceExists, 400, "InvalidInstanceId.Duplicate"},
	{controlplane.ErrKeyNotFound, 404, "InvalidAccessKeyId.NotFound"},
	{controlplane.ErrPolicy, 400, "InvalidPolicy.Malformed"},
	{controlplane.ErrLastAdmin, 400, "OperationDenied.LastAdminKey"},
	{allowlist.ErrSystemGroup, 403, "OperationDenied.SystemGroup"},
	{allowlist.ErrDeleteDefault, 400, "OperationDenied.DefaultGroup"},
	{allowlist.ErrGroupNotFound, 404, "InvalidSecurityIPGroupName.NotFound"},
	{allowlist.ErrEntryNotFound, 404, "InvalidSecurityIPs.NotFound"},
	{allowlist.ErrGroupName, 400, "InvalidGroupName.Format"},
	{allowlist.ErrMode, 400, "InvalidModifyMode.ValueNotSupported"},
	{allowlist.ErrAttribute, 400, "InvalidSecurityIpGroupAttribute.ValueNotSupported"},
	{allowlist.ErrTooMany, 400, "InvalidSecurityIPList.QuotaExceeded"},
	{allowlist.ErrDuplicate, 400, "InvalidSecurityIPList.Duplicate"},
	{allowlist.ErrFormat, 400, "InvalidSecurityIPList.Format"},
	{allowlist.ErrHostBits, 400, "InvalidSecurityIPList.Format"},
	{allowlist.ErrPrefixLength, 400, "InvalidSecurityIPList.Format"},
	{allowlist.ErrSpace, 400, "InvalidSecurityIPList.Format"},
	{allowlist.ErrEmptyList, 400, "InvalidSecurityIPList.Format"},
	{model.ErrInstanceID, 400, "InvalidInstanceId.Malformed"},
	{model.ErrListen, 400, "InvalidListen.Malformed"},
	{model.ErrNoListen, 400, "InvalidListen.Malformed"},
	{model.ErrParam, 400, "InvalidParameter.Config"},
	{backend.ErrSpec, 400, "InvalidBackend.Malformed"},
	{errListenInUse, 400, "InvalidListen.InUse"},
}

// mapError turns any error into an API error. Caller mistakes are 4xx; anything unrecognised is a 500
// whose message does not leak internals.
func mapError(err error) *Error {
	var ae *Error
	if errors.As(err, &ae) {
		return ae
	}
	var se *sign.Error
	if errors.As(err, &se) {
		return &Error{se.Status, se.Code, se.Message}
	}
	for _, c := range codes {
		if errors.Is(err, c.err) {
			return &Error{c.status, c.code, oneLine(err.Error())}
		}
	}
	return &Error{http.StatusInternalServerError, "InternalError", "The request processing has failed due to some unknown error."}
}

// oneLine joins the lines of an errors.Join message.
func oneLine(s string) string { return strings.ReplaceAll(s, "\n", "; ") }
