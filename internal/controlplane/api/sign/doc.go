// Package sign verifies and makes the request signatures of Alibaba Cloud's RPC-style APIs, so that
// the official SDKs, the aliyun CLI and Terraform can call moat's control plane unchanged.
//
// Server side, a Verifier accepts both schemes found in the wild:
//
//   - V1 (SignatureMethod=HMAC-SHA1, SignatureVersion=1.0): AccessKeyId, Timestamp, SignatureNonce and
//     Signature travel as parameters, in the query or in an application/x-www-form-urlencoded body. The
//     signature covers every query and form parameter except Signature. Sent by SDK-v1
//     (github.com/aliyun/alibaba-cloud-sdk-go), the aliyun CLI and Tea SDKs configured with "v2".
//   - V3 (ACS3-HMAC-SHA256): an Authorization header over the method, path, query, the host,
//     content-type and x-acs-* headers, and the SHA-256 of the body. The default of the Tea/darabonba
//     SDKs.
//
// Every request must also carry a timestamp within the Verifier's window and a nonce not used before
// by the same access key (see Verifier).
//
// Client side, SignV1 signs parameters the way SDK-v1 does, for moat's own CLI.
//
// Errors are *Error values with the provider's code, HTTP status and message, ready for the error JSON
// the SDKs parse. A SignatureDoesNotMatch message carries the server's string to sign after the exact
// prefix SDK-v1 looks for, so SDK-v1 can tell a wrong secret from a canonicalisation bug.
//
// It is a leaf: it imports no other moat package, so that the CLI signs with it without importing the API.
package sign
