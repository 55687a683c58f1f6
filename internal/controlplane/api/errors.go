package api

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/moat-dev/moat/internal/allowlist"
	"github.com/moat-dev/moat/internal/backend/spec"
	"github.com/moat-dev/moat/internal/controlplane"
	"github.com/moat-dev/moat/internal/controlplane/api/sign"
	"github.com/moat-dev/moat/internal/controlplane/model"
	"github.com/moat-dev/moat/internal/controlplane/store"
)

// Error is an API error as the provider's SDKs read it: an HTTP status and a code in the provider's
// style. Every error a caller can see is built here or in mapError: the sentinels and constructors
// below, and the codes table for the domain's sentinel errors. No other file of the package spells an
// error code (TestErrorCodesOnlyInErrorsGo).
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

// duplicateParam refuses a console call giving parameter k more than once, as a signed call's is
// refused (sign.CodeDuplicateParameter, in its words).
func duplicateParam(k string) *Error {
	return invalid("InvalidParameter.Duplicate", "The parameter "+strconv.Quote(k)+" is given more than once.")
}

// headerConflict refuses a call giving p (Action, Version) as a parameter and in its x-acs- header with
// different values, or in the header twice.
func headerConflict(p string) *Error {
	return invalid("InvalidParameter.Duplicate", "The parameter "+p+" is given more than once (as a parameter or its header x-acs-"+strings.ToLower(p)+"), with different values: give it once.")
}

// Refusals of a call's parameters that name no domain sentinel: each states the input it refuses.
var (
	errPassword = invalid("InvalidParameter.Password",
		"CreateInstance takes no Password: set an account's password with ResetAccountPassword (or CreateAccount) once the instance exists; omit it.")
	errDefaultAccount = invalid("OperationDenied.DefaultAccount", "The default account cannot be deleted.")
	errDefaultUser    = invalid("OperationDenied.DefaultUser", "ERR The 'default' user cannot be removed")
	errPageNumber     = invalid("InvalidPageNumber.Malformed", "PageNumber must be an integer of at least 1.")
	errPageSize       = invalid("InvalidPageSize.Malformed", "PageSize must be an integer from 1 to 100.")
	errAuditPageSize  = invalid("InvalidPageSize.Malformed", "PageSize must be an integer from 1 to 1000.")
)

func badVersion(action, version string, versions []string) *Error {
	return invalid("InvalidVersion", "Specified parameter Version \""+version+"\" is not valid for "+action+" (use "+strings.Join(versions, " or ")+").")
}

func badRequestBody(err error) *Error {
	return invalid("InvalidRequest", "reading the request body: "+err.Error())
}

func instanceExists(id string) *Error {
	return invalid("InvalidInstanceId.Duplicate", fmt.Sprintf("instance %q already exists", id))
}

// badBackend refuses a backend moat cannot serve (a cluster, or one whose mode is unknown); err names it.
func badBackend(err error) *Error { return invalid("InvalidParameter.Backend", err.Error()) }

// badConfig refuses a Config parameter that is not a JSON object; example is a valid one for the action.
func badConfig(example string) *Error {
	return invalid("InvalidParameter.Config", "Config must be a JSON object of parameter names to values, e.g. "+example+".")
}

func badConfigValue(name string) *Error {
	return invalid("InvalidParameter.Config", fmt.Sprintf("parameter %q: value must be a string or number", name))
}

func badSourceIP(s string) *Error {
	return invalid("InvalidSourceIp.Malformed", fmt.Sprintf("SourceIp %q is not an IP address", s))
}

func badProxyIP(s string) *Error {
	return invalid("InvalidProxyIp.Malformed", fmt.Sprintf("ProxyIp %q is not an IP address", s))
}

func badTransport(s string) *Error {
	return invalid("InvalidTransport.Malformed", fmt.Sprintf("Transport %q is not plain or tls", s))
}

// badTime refuses DescribeAuditLogs' StartTime or EndTime (param) whose value s is not RFC 3339.
func badTime(param, s string) *Error {
	code := "InvalidStartTime.Malformed"
	if param == "EndTime" {
		code = "InvalidEndTime.Malformed"
	}
	return invalid(code, "Specified "+param+" \""+s+"\" is not a time in RFC 3339 form (2006-01-02T15:04:05Z).")
}

func badLogType(s string) *Error {
	return invalid("InvalidLogType.ValueNotSupported", "Specified LogType \""+s+"\" is not valid: use Changes or FailedCalls.")
}

func badAuditToken(s string) *Error {
	return invalid("InvalidNextToken.Malformed", "Specified NextToken \""+s+"\" is not one DescribeAuditLogs returned.")
}

// Accounts (accounts.go) and raw ACL users (aclusers.go).

func accountNotFound(name string) *Error {
	return &Error{http.StatusNotFound, "InvalidAccountName.NotFound", fmt.Sprintf("account %q: %v", name, errAccountNotFound)}
}

func accountExists(name string) *Error {
	return invalid("InvalidAccountName.Duplicate", fmt.Sprintf("account %q: %v", name, errAccountExists))
}

func userNotFound(name string) *Error {
	return &Error{http.StatusNotFound, "InvalidUserName.NotFound", fmt.Sprintf("user %q not found", name)}
}

func badUserName(name string) *Error {
	return invalid("InvalidUserName.Format", fmt.Sprintf("UserName %q: ERR Usernames can't contain spaces or null characters", name))
}

// badRules and badACLFile carry Redis's reply to bad ACL rules given as Rules or as an ACL file.
func badRules(reply string) *Error   { return invalid("InvalidParameter.Rules", reply) }
func badACLFile(reply string) *Error { return invalid("InvalidParameter.ACLFile", reply) }

var (
	errActionNotFound = &Error{http.StatusNotFound, "InvalidAction.NotFound", "Specified api is not found, please check your url and method."}
	errForbidden      = &Error{http.StatusForbidden, "Forbidden.RAM", "User not authorized to operate on the specified resource, or this API doesn't support RAM."}
	errTooLarge       = &Error{http.StatusRequestEntityTooLarge, "RequestTooLarge", "The request body or a parameter is larger than moat accepts."}
	errMethod         = &Error{http.StatusMethodNotAllowed, "UnsupportedHTTPMethod", "Use GET or POST."}
	// ErrMisdirected answers a request whose Host header names none of the listener's names (the
	// server's Host guard, against DNS rebinding).
	// ErrTooManyConns and ErrTooManyFromAddr answer a connection over the HTTP listener's caps.
	ErrTooManyConns    = &Error{http.StatusServiceUnavailable, "ServiceUnavailable.TooManyConnections", "Too many connections to moat's HTTP listener; retry later."}
	ErrTooManyFromAddr = &Error{http.StatusTooManyRequests, "Throttling.TooManyConnections", "Too many connections from your address to moat's HTTP listener; retry later."}
	ErrMisdirected     = &Error{http.StatusMisdirectedRequest, "InvalidHost", "moat does not answer to this Host header; add the name with --api-host."}
	// errSourceThrottled refuses a source address that failed authentication too often (throttle.go):
	// the provider's code and message, then moat's reason.
	errSourceThrottled = &Error{http.StatusBadRequest, sign.CodeThrottlingUser,
		"Request was denied due to user flow control. Too many calls from this address failed authentication; retry later."}
)

// Errors of the HTTP layer, which net/http answers by itself before any handler runs; wire.go turns
// them into the provider's JSON.
var (
	errHeaderTooLarge = &Error{http.StatusRequestHeaderFieldsTooLarge, "RequestHeaderTooLarge",
		"The request line or headers are larger than moat accepts."}
	errMalformedHTTP = &Error{http.StatusBadRequest, "MalformedRequest",
		"The request is not well-formed HTTP/1.1."}
	errHTTPVersion = &Error{http.StatusHTTPVersionNotSupported, "UnsupportedHTTPVersion",
		"Use HTTP/1.0 or HTTP/1.1."}
	ErrTransferEncoding = &Error{http.StatusNotImplemented, "UnsupportedTransferEncoding",
		"The request's Transfer-Encoding is not supported; send the body with a Content-Length."}
	errExpectation = &Error{http.StatusExpectationFailed, "UnsupportedExpectation",
		"The request's Expect header is not supported (only 100-continue is)."}
	errHTTPToHTTPS = &Error{http.StatusBadRequest, "HttpsRequired",
		"This listener speaks HTTPS: the client sent plain HTTP. Use https:// (request.Scheme = \"https\")."}
)

// codes maps the domain's sentinel errors to the provider-style code and status, in priority order:
// the first sentinel found in an error decides its code.
var codes = []struct {
	err    error
	status int
	code   string
}{
	// A shared state store (etcd) that cannot be reached or has no quorum: the message names the cause
	// and when this gateway last reached it (its enforcement is as of then).
	{store.ErrUnavailable, 503, "ServiceUnavailable.StateStore"},
	{store.ErrTooLarge, 400, "RequestTooLarge.StateStore"},
	{controlplane.ErrInstanceNotFound, 404, "InvalidInstanceId.NotFound"},
	{controlplane.ErrInstanceExists, 400, "InvalidInstanceId.Duplicate"},
	{controlplane.ErrKeyNotFound, 404, "InvalidAccessKeyId.NotFound"},
	{controlplane.ErrPolicy, 400, "InvalidPolicy.Malformed"},
	{controlplane.ErrKeyDescription, 400, "InvalidDescription.Malformed"},
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
	{spec.ErrSpec, 400, "InvalidBackend.Malformed"},
	{errListenInUse, 400, "InvalidListen.InUse"},
	// Hosts, security groups, rules and bindings (ECS 2014-05-26 and R-kvstore codes where they exist).
	{controlplane.ErrHostNotFound, 404, "InvalidInstanceId.NotFound"},
	{controlplane.ErrHostExists, 400, "InvalidInstanceId.Duplicate"},
	{controlplane.ErrSecurityGroupNotFound, 404, "InvalidSecurityGroupId.NotFound"},
	{controlplane.ErrSecurityGroupExists, 400, "InvalidSecurityGroupId.Duplicate"},
	{controlplane.ErrAlreadyMember, 403, "InvalidInstanceId.AlreadyExists"},
	{controlplane.ErrNotMember, 403, "InvalidInstanceId.NotInSecurityGroup"},
	{controlplane.ErrGroupBound, 403, "DependencyViolation.BoundToInstance"},
	{controlplane.ErrGroupHasMembers, 403, "DependencyViolation"},
	{controlplane.ErrBindUnknownGroup, 400, "InvalidParam"},
	{controlplane.ErrRuleNotFound, 400, "InvalidParam.SecurityGroupRuleId"},
	{controlplane.ErrDesired, 400, "InvalidDesiredState"},
	{model.ErrEngineNotBindable, 400, "EngineNotSupported"},
	{model.ErrTypeNotBindable, 400, "InstanceTypeNotSupported"},
	{model.ErrTooManyBound, 400, "AssociatedEcsSecurityGroupIdQuotaExceed"},
	{model.ErrHostGroupQuota, 400, "InstanceSecurityGroupLimitExceeded"},
	{model.ErrTooManyRules, 403, "AuthorizationLimitExceed"},
	{model.ErrTooManyPerms, 400, "InvalidParameter.Permissions"},
	{model.ErrNotSupported, 400, "InvalidParameter.NotSupported"},
	{model.ErrProtocol, 400, "InvalidIpProtocol.ValueNotSupported"},
	{model.ErrPortProtocol, 400, "OperationDenied"},
	{model.ErrPortRange, 400, "InvalidPortRange.Malformed"},
	{model.ErrMissingSource, 400, "MissingParameter.Source"},
	{model.ErrMissingDest, 400, "MissingParameter.Destination"},
	{model.ErrSourceCIDR, 400, "InvalidSourceCidrIp.Malformed"},
	{model.ErrDestCIDR, 400, "InvalidDestCidrIp.Malformed"},
	{model.ErrRulePolicy, 400, "InvalidPolicy.Malformed"},
	{model.ErrPriority, 400, "InvalidPriority.Malformed"},
	{model.ErrPriorityRange, 400, "InvalidPriority.ValueNotSupported"},
	{model.ErrNicType, 400, "InvalidNicType.ValueNotSupported"},
	{model.ErrRuleDescription, 400, "InvalidSecurityGroupDiscription.Malformed"},
	{model.ErrSGDescription, 400, "InvalidDescription.Malformed"},
	{model.ErrName, 400, "InvalidName.Malformed"},
	{model.ErrSecurityGroupID, 400, "InvalidSecurityGroupId.Malformed"},
	{model.ErrHostID, 400, "InvalidInstanceId.Malformed"},
	{model.ErrHostAddress, 400, "InvalidIpAddress.Malformed"},
	{model.ErrVpcID, 400, "InvalidVpcId.Malformed"},
	{model.ErrInstanceType, 400, "InvalidArchitectureType.ValueNotSupported"},
	{model.ErrArchitecture, 400, "InvalidArchitecture.ValueNotSupported"},
	// Accounts (accounts.go) and per-user source restrictions (A4).
	{model.ErrAccountName, 400, "InvalidAccountName.Format"},
	{model.ErrAccountReserved, 400, "InvalidAccountName.Format"},
	{model.ErrAccountPassword, 400, "InvalidAccountPassword.Format"},
	{model.ErrAccountPrivilege, 400, "InvalidAccountPrivilege.ValueNotSupported"},
	{model.ErrAccountType, 400, "InvalidAccountType.ValueNotSupported"},
	{model.ErrAccountDescription, 400, "InvalidAccountDescription.Format"},
	{model.ErrUserSource, 400, "InvalidSources.Format"},
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

// ECS actions (ecs*.go).
var (
	errSecurityGroupType   = invalid("InvalidSecurityGroupType.NotSupported", "moat's security groups are basic ones: SecurityGroupType must be normal.")
	errNoNetworkInterfaces = invalid("InvalidParameter.NotSupported", "moat's hosts have no elastic network interfaces: give InstanceId.")
	errRulesetFormat       = invalid("InvalidRulesetFormat.ValueNotSupported", "RulesetFormat must be nftables.")
	errDirection           = invalid("InvalidDirection.Malformed", "Direction must be ingress, egress or all.")
	errMaxResults          = invalid("InvalidMaxResults.Malformed", "MaxResults must be an integer from 10 to 1000.")
	errNextToken           = invalid("InvalidNextToken.Malformed", "NextToken is not one this API returned.")
)

// badPermissionsIndex names a Permissions.N parameter whose N is out of range.
func badPermissionsIndex(param string) *Error {
	return invalid("InvalidParameter.Permissions", fmt.Sprintf("parameter %q: N in Permissions.N must be 1 to %d", param, model.MaxPermissionsPerCall))
}
