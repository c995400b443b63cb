package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"
)

// pluginName is what a delegate type may be: it becomes a file name under CNI_PATH.
var pluginName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

const delegateTimeout = 60 * time.Second

// accessExecute is access(2)'s X_OK, which package syscall does not name.
const accessExecute = 1

// buildDelegateConfig generates the delegate (bridge by default) config Flannel's plugin
// generates, per DESIGN.md "CNI plugin": host-local IPAM over this host's subnet with a route to
// the whole network, MTU from subnet.env, ipMasq only when the agent does not masquerade, bridge
// as gateway. Keys present in delegate win, except name, cniVersion and ipam; keys present in
// ipam win, except ranges (always this host's subnet), and its routes are kept with the
// network's appended. That is Flannel's merge.
func buildDelegateConfig(conf *netConf, env *subnetEnv) map[string]any {
	// The gateway host-local gives the bridge (the subnet's first address), named explicitly: the
	// kernel route is the same as Flannel's gateway-less one, but the bridge plugin's CHECK
	// compares prevResult routes with the routing table and fails on a route without its gateway.
	ranges := []any{}
	routes := []any{}
	if env.Subnet.IsValid() {
		ranges = append(ranges, []any{map[string]any{"subnet": env.Subnet.String()}})
		routes = append(routes, map[string]any{"dst": env.Network.String(), "gw": env.Subnet.Addr().Next().String()})
	}
	if env.IPv6Subnet.IsValid() {
		ranges = append(ranges, []any{map[string]any{"subnet": env.IPv6Subnet.String()}})
		if env.IPv6Network.IsValid() {
			routes = append(routes, map[string]any{"dst": env.IPv6Network.String(), "gw": env.IPv6Subnet.Addr().Next().String()})
		}
	}
	ipam := map[string]any{"type": "host-local"}
	for key, value := range conf.IPAM {
		ipam[key] = value
	}
	userRoutes, _ := conf.IPAM["routes"].([]any)
	ipam["ranges"] = ranges
	ipam["routes"] = append(append([]any{}, userRoutes...), routes...)

	delegateType, _ := conf.Delegate["type"].(string)
	if delegateType == "" {
		delegateType = "bridge"
	}
	delegate := map[string]any{"type": delegateType, "mtu": env.MTU, "ipMasq": !env.IPMasq}
	if delegateType == "bridge" {
		delegate["isGateway"] = true
	}
	for key, value := range conf.Delegate {
		delegate[key] = value
	}
	delegate["name"] = conf.Name
	delegate["cniVersion"] = conf.CNIVersion
	delegate["ipam"] = ipam
	// What the runtime (or Multus) asks of this attachment: static IPs and MACs, port mappings,
	// bandwidth. The delegate does the work, so it gets them, as Flannel's plugin passes them.
	withRuntimeConfig(delegate, conf)
	if capabilities, present := conf.Raw["capabilities"]; present {
		if _, own := delegate["capabilities"]; !own {
			delegate["capabilities"] = capabilities
		}
	}
	return delegate
}

// withRuntimeConfig hands the runtime's runtimeConfig of this call to the delegate, replacing
// one stored with an earlier call.
func withRuntimeConfig(delegate map[string]any, conf *netConf) {
	if runtimeConfig, present := conf.Raw["runtimeConfig"]; present {
		delegate["runtimeConfig"] = runtimeConfig
	}
}

// findPlugin returns the delegate's executable: the first CNI_PATH directory holding an
// executable of that name.
func findPlugin(pluginType, cniPath string) (string, error) {
	if !pluginName.MatchString(pluginType) {
		return "", newError(codeInvalidNetworkConfig, "delegate type %s is not a plugin name", quote(pluginType))
	}
	for _, dir := range strings.Split(cniPath, ":") {
		if dir == "" {
			continue
		}
		candidate := filepath.Join(dir, pluginType)
		if info, err := os.Stat(candidate); err == nil && info.Mode().IsRegular() && syscall.Access(candidate, accessExecute) == nil {
			return candidate, nil
		}
	}
	return "", newError(codeInvalidEnvironment, "delegate plugin %s not found in CNI_PATH %s", pluginType, quote(cniPath))
}

// environWith is the runtime's environment with one variable replaced.
func environWith(name, value string) []string {
	env := []string{}
	for _, entry := range os.Environ() {
		if !strings.HasPrefix(entry, name+"=") {
			env = append(env, entry)
		}
	}
	return append(env, name+"="+value)
}

// invokeDelegate runs the delegate plugin with the runtime's CNI_* environment and config on
// stdin, as the CNI spec's delegation says, and returns its stdout.
func invokeDelegate(command string, config map[string]any) ([]byte, error) {
	pluginType, _ := config["type"].(string)
	plugin, err := findPlugin(pluginType, os.Getenv("CNI_PATH"))
	if err != nil {
		return nil, err
	}
	input, err := json.Marshal(config)
	if err != nil {
		return nil, newError(codeIOFailure, "encoding the %s config: %v", pluginType, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), delegateTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, plugin)
	cmd.Stdin = bytes.NewReader(input)
	cmd.Env = environWith("CNI_COMMAND", command)
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	runErr := cmd.Run()
	if runErr == nil {
		return stdout.Bytes(), nil
	}
	if _, exited := runErr.(*exec.ExitError); !exited || ctx.Err() != nil {
		return nil, newError(codeIOFailure, "running %s: %v", plugin, runErr)
	}
	var reported struct {
		Code    *int   `json:"code"`
		Msg     string `json:"msg"`
		Details string `json:"details"`
	}
	_ = json.Unmarshal(stdout.Bytes(), &reported)
	failure := &cniError{Code: codeIOFailure, Msg: reported.Msg, Details: reported.Details}
	if reported.Code != nil {
		failure.Code = *reported.Code
	}
	if failure.Msg == "" {
		failure.Msg = strings.TrimSpace(stderr.String())
	}
	if failure.Msg == "" {
		failure.Msg = runErr.Error()
	}
	failure.Msg = pluginType + " " + command + " failed: " + failure.Msg
	return nil, failure
}
