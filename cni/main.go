// Command flannel is weft's CNI plugin, installed as type flannel and as weft. One command per
// process: the result, or the spec's error object, on stdout, and exit 1 on error.
//
// It is Go, not Node like the agent, because it runs once per pod on the pod's start-up path:
// Node's own start-up alone (80 to 120 ms) is above the 60 ms budget for a whole ADD.
//
// `flannel delegate-config < conf.json` prints the delegate config ADD would use, without
// running anything: for operators, and for the manifest tests.
package main

import (
	"encoding/json"
	"io"
	"os"
)

func main() {
	stdin, err := io.ReadAll(os.Stdin)
	var output []byte
	if err != nil {
		err = newError(codeIOFailure, "reading the network config from stdin: %v", err)
	} else if len(os.Args) == 2 && os.Args[1] == "delegate-config" {
		output, err = delegateConfigFor(stdin)
	} else {
		output, err = runCommand(os.Getenv("CNI_COMMAND"), os.Getenv("CNI_CONTAINERID"), stdin)
	}
	if err != nil {
		failure, ok := err.(*cniError)
		if !ok {
			failure = newError(codeIOFailure, "%v", err)
		}
		output = failure.toJSON(requestedVersion(stdin))
	}
	if len(output) > 0 && output[len(output)-1] != '\n' {
		output = append(output, '\n')
	}
	_, _ = os.Stdout.Write(output)
	if err != nil {
		os.Exit(1)
	}
}

// requestedVersion is the cniVersion the runtime asked for, for the error object.
func requestedVersion(stdin []byte) string {
	var conf struct {
		CNIVersion string `json:"cniVersion"`
	}
	if json.Unmarshal(stdin, &conf) == nil && conf.CNIVersion != "" {
		return conf.CNIVersion
	}
	return "1.0.0"
}
