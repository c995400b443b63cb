package main

import (
	"net/netip"
	"strconv"
	"strings"
)

// subnetEnv is what the agent published in subnet.env, validated.
type subnetEnv struct {
	Network netip.Prefix
	// Subnet is the host's subnet as a network address, e.g. 10.244.3.0/24.
	Subnet      netip.Prefix
	MTU         int
	IPMasq      bool
	IPv6Network netip.Prefix
	IPv6Subnet  netip.Prefix
}

// parseEnvFile reads KEY=value lines; comments, blanks and surrounding quotes are tolerated,
// as the agent's own reader tolerates them.
func parseEnvFile(text string) map[string]string {
	vars := map[string]string{}
	for _, line := range strings.Split(text, "\n") {
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		eq := strings.Index(trimmed, "=")
		if eq <= 0 {
			continue
		}
		value := strings.TrimSpace(trimmed[eq+1:])
		if len(value) >= 2 && strings.HasPrefix(value, `"`) && strings.HasSuffix(value, `"`) {
			value = value[1 : len(value)-1]
		}
		vars[strings.TrimSpace(trimmed[:eq])] = value
	}
	return vars
}

func parseSubnetEnv(text, path string) (*subnetEnv, error) {
	vars := parseEnvFile(text)
	bad := func(name string) error {
		value, present := vars[name]
		got := "null"
		if present {
			got = quote(value)
		}
		return newError(codeInvalidNetworkConfig, "%s: %s is missing or invalid (got %s)", path, name, got)
	}
	env := &subnetEnv{}
	// An IPv6-only network has no IPv4 lines at all (Flannel's WriteSubnetFile); otherwise both
	// must be valid.
	_, hasNetwork := vars["FLANNEL_NETWORK"]
	_, hasSubnet := vars["FLANNEL_SUBNET"]
	if hasNetwork || hasSubnet || vars["FLANNEL_IPV6_SUBNET"] == "" {
		network, err := netip.ParsePrefix(vars["FLANNEL_NETWORK"])
		if err != nil || !network.Addr().Is4() || network != network.Masked() {
			return nil, bad("FLANNEL_NETWORK")
		}
		env.Network = network
		// FLANNEL_SUBNET holds the bridge's address with the subnet's length: 10.244.3.1/24.
		subnet, err := netip.ParsePrefix(vars["FLANNEL_SUBNET"])
		if err != nil || !subnet.Addr().Is4() {
			return nil, bad("FLANNEL_SUBNET")
		}
		env.Subnet = subnet.Masked()
		// Pods would get addresses no peer routes to this host.
		if !network.Contains(env.Subnet.Addr()) || env.Subnet.Bits() < network.Bits() {
			return nil, newError(codeInvalidNetworkConfig, "%s: FLANNEL_SUBNET %s lies outside FLANNEL_NETWORK %s", path, vars["FLANNEL_SUBNET"], network)
		}
	}
	var err error
	if env.MTU, err = strconv.Atoi(vars["FLANNEL_MTU"]); err != nil || env.MTU < 576 || env.MTU > 65535 {
		return nil, bad("FLANNEL_MTU")
	}
	switch vars["FLANNEL_IPMASQ"] {
	case "true":
		env.IPMasq = true
	case "false":
	default:
		return nil, bad("FLANNEL_IPMASQ")
	}
	for name, target := range map[string]*netip.Prefix{"FLANNEL_IPV6_NETWORK": &env.IPv6Network, "FLANNEL_IPV6_SUBNET": &env.IPv6Subnet} {
		text, present := vars[name]
		if !present || text == "" {
			continue
		}
		prefix, err := netip.ParsePrefix(text)
		if err != nil || !prefix.Addr().Is6() {
			return nil, bad(name)
		}
		*target = prefix.Masked()
	}
	return env, nil
}
