package main

import (
	"encoding/json"
	"fmt"
)

// CNI spec error codes (SPEC.md "Error").
const (
	codeIncompatibleVersion  = 1
	codeUnknownContainer     = 3
	codeInvalidEnvironment   = 4
	codeIOFailure            = 5
	codeDecodeFailure        = 6
	codeInvalidNetworkConfig = 7
	codeTryAgainLater        = 11
)

// cniError is reported to the runtime as the spec's JSON error object on stdout.
type cniError struct {
	Code    int
	Msg     string
	Details string
}

func (e *cniError) Error() string { return e.Msg }

func newError(code int, format string, args ...any) *cniError {
	return &cniError{Code: code, Msg: fmt.Sprintf(format, args...)}
}

func (e *cniError) toJSON(cniVersion string) []byte {
	out, _ := json.Marshal(struct {
		CNIVersion string `json:"cniVersion"`
		Code       int    `json:"code"`
		Msg        string `json:"msg"`
		Details    string `json:"details,omitempty"`
	}{cniVersion, e.Code, e.Msg, e.Details})
	return out
}

// quote renders a value from the config or the environment for an error message, as JSON.
func quote(value any) string {
	out, err := json.Marshal(value)
	if err != nil {
		return fmt.Sprintf("%v", value)
	}
	return string(out)
}
