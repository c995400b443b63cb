package main

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

const hostEnv = "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.3.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n"

func mustConf(t *testing.T, text string) *netConf {
	t.Helper()
	conf, err := parseNetConf([]byte(text))
	if err != nil {
		t.Fatalf("parseNetConf(%s): %v", text, err)
	}
	return conf
}

func mustEnv(t *testing.T, text string) *subnetEnv {
	t.Helper()
	env, err := parseSubnetEnv(text, "/run/flannel/subnet.env")
	if err != nil {
		t.Fatalf("parseSubnetEnv: %v", err)
	}
	return env
}

// asJSON compares configs the way the delegate sees them: as JSON.
func asJSON(t *testing.T, value any) any {
	t.Helper()
	text, err := json.Marshal(value)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(text, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func expectJSON(t *testing.T, got any, want string) {
	t.Helper()
	var wantValue any
	if err := json.Unmarshal([]byte(want), &wantValue); err != nil {
		t.Fatal(err)
	}
	if gotValue := asJSON(t, got); !reflect.DeepEqual(gotValue, wantValue) {
		gotText, _ := json.Marshal(gotValue)
		t.Errorf("got  %s\nwant %s", gotText, want)
	}
}

func TestNetConfDefaults(t *testing.T) {
	conf := mustConf(t, `{"cniVersion":"1.0.0","name":"cbr0","type":"flannel"}`)
	if conf.SubnetFile != "/run/flannel/subnet.env" || conf.DataDir != "/var/lib/cni/flannel" || len(conf.Delegate) != 0 || len(conf.IPAM) != 0 {
		t.Errorf("defaults not applied: %+v", conf)
	}
}

func TestNetConfRejects(t *testing.T) {
	cases := []struct {
		text    string
		code    int
		message string
	}{
		{`not json`, codeDecodeFailure, "network config on stdin is not JSON"},
		{`[1]`, codeDecodeFailure, "not a JSON object"},
		{`{"cniVersion":"1.0.0"} {}`, codeDecodeFailure, "data after the object"},
		{`{"cniVersion":"9.9.9"}`, codeIncompatibleVersion, "cniVersion 9.9.9 is not supported"},
		{`{"cniVersion":"1.0.0","dataDir":"relative"}`, codeInvalidNetworkConfig, `network config field dataDir: must be an absolute path (got "relative")`},
		{`{"cniVersion":"1.0.0","delegate":"bridge"}`, codeInvalidNetworkConfig, `network config field delegate: must be an object (got "bridge")`},
		{`{"cniVersion":"1.0.0","delegate":{"type":"../sh"}}`, codeInvalidNetworkConfig, `network config field delegate.type: must be a plugin name (got "../sh")`},
		{`{"cniVersion":"1.0.0","subnetFile":""}`, codeInvalidNetworkConfig, `network config field subnetFile: must be a non-empty string (got "")`},
		{`{"cniVersion":"1.0.0","name":null}`, codeInvalidNetworkConfig, `network config field name: must be a non-empty string (got null)`},
	}
	for _, c := range cases {
		_, err := parseNetConf([]byte(c.text))
		failure, ok := err.(*cniError)
		if !ok || failure.Code != c.code || !strings.Contains(failure.Msg, c.message) {
			t.Errorf("%s: got %#v, want code %d with %q", c.text, err, c.code, c.message)
		}
	}
}

func TestSubnetEnvReadsTheHostSubnetAsANetworkAddress(t *testing.T) {
	env := mustEnv(t, hostEnv)
	if env.Network.String() != "10.244.0.0/16" || env.Subnet.String() != "10.244.3.0/24" || env.MTU != 1450 || !env.IPMasq || env.IPv6Subnet.IsValid() {
		t.Errorf("got %+v", env)
	}
	quoted := mustEnv(t, "# written by weft\n\nFLANNEL_NETWORK=\"10.244.0.0/16\"\n FLANNEL_SUBNET = 10.244.3.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n")
	if quoted.Subnet.String() != "10.244.3.0/24" || quoted.IPMasq {
		t.Errorf("comments, blanks and quotes: got %+v", quoted)
	}
}

func TestSubnetEnvNamesTheFileAndTheVariable(t *testing.T) {
	cases := map[string]string{
		strings.Replace(hostEnv, "FLANNEL_MTU=1450", "FLANNEL_MTU=big", 1):       `/x/subnet.env: FLANNEL_MTU is missing or invalid (got "big")`,
		strings.Replace(hostEnv, "FLANNEL_MTU=1450\n", "", 1):                    `/x/subnet.env: FLANNEL_MTU is missing or invalid (got null)`,
		strings.Replace(hostEnv, "10.244.0.0/16", "10.244.0.1/16", 1):            `FLANNEL_NETWORK is missing or invalid (got "10.244.0.1/16")`,
		strings.Replace(hostEnv, "10.244.3.1/24", "fd00::1/64", 1):               `FLANNEL_SUBNET is missing or invalid (got "fd00::1/64")`,
		strings.Replace(hostEnv, "FLANNEL_IPMASQ=true", "FLANNEL_IPMASQ=yes", 1): `FLANNEL_IPMASQ is missing or invalid (got "yes")`,
		hostEnv + "FLANNEL_IPV6_SUBNET=10.1.0.0/16\n":                            `FLANNEL_IPV6_SUBNET is missing or invalid (got "10.1.0.0/16")`,
		strings.Replace(hostEnv, "FLANNEL_MTU=1450", "FLANNEL_MTU=100", 1):       `FLANNEL_MTU is missing or invalid (got "100")`,
		strings.Replace(hostEnv, "10.244.3.1/24", "10.99.3.1/24", 1):             `/x/subnet.env: FLANNEL_SUBNET 10.99.3.1/24 lies outside FLANNEL_NETWORK 10.244.0.0/16`,
		strings.Replace(hostEnv, "10.244.3.1/24", "10.244.3.1/8", 1):             `FLANNEL_SUBNET 10.244.3.1/8 lies outside FLANNEL_NETWORK 10.244.0.0/16`,
	}
	for text, message := range cases {
		_, err := parseSubnetEnv(text, "/x/subnet.env")
		if err == nil || !strings.Contains(err.Error(), message) {
			t.Errorf("got %v, want %q", err, message)
		}
	}
}

func TestFlannelsBridgeAndHostLocalDelegate(t *testing.T) {
	got := buildDelegateConfig(mustConf(t, `{"cniVersion":"0.3.1","name":"cbr0","type":"flannel"}`), mustEnv(t, hostEnv))
	expectJSON(t, got, `{
		"cniVersion": "0.3.1", "name": "cbr0", "type": "bridge", "isGateway": true, "mtu": 1450, "ipMasq": false,
		"ipam": {"type": "host-local", "ranges": [[{"subnet": "10.244.3.0/24"}]], "routes": [{"dst": "10.244.0.0/16", "gw": "10.244.3.1"}]}
	}`)
}

func TestDelegateAndIPAMKeysWinExceptNameVersionAndRanges(t *testing.T) {
	conf := mustConf(t, `{
		"cniVersion": "1.0.0", "name": "weft2", "type": "weft",
		"delegate": {"bridge": "cni1", "mtu": 1400, "isGateway": false, "hairpinMode": true, "name": "ignored", "cniVersion": "0.1.0"},
		"ipam": {"dataDir": "/var/lib/weft2", "ranges": [[{"subnet": "1.2.3.0/24"}]], "routes": [{"dst": "0.0.0.0/0"}]}
	}`)
	expectJSON(t, buildDelegateConfig(conf, mustEnv(t, hostEnv)), `{
		"cniVersion": "1.0.0", "name": "weft2", "type": "bridge", "isGateway": false, "mtu": 1400, "ipMasq": false,
		"bridge": "cni1", "hairpinMode": true,
		"ipam": {"type": "host-local", "dataDir": "/var/lib/weft2", "ranges": [[{"subnet": "10.244.3.0/24"}]],
		         "routes": [{"dst": "0.0.0.0/0"}, {"dst": "10.244.0.0/16", "gw": "10.244.3.1"}]}
	}`)
}

func TestOtherDelegateTypesGetNoBridgeKeys(t *testing.T) {
	got := buildDelegateConfig(mustConf(t, `{"cniVersion":"1.0.0","delegate":{"type":"ptp"}}`), mustEnv(t, hostEnv))
	if _, present := got["isGateway"]; present || got["type"] != "ptp" {
		t.Errorf("got %v", got)
	}
}

func TestNumbersReachTheDelegateAsWritten(t *testing.T) {
	got := buildDelegateConfig(mustConf(t, `{"cniVersion":"1.0.0","delegate":{"mtu":1400,"weight":12345678901234567890}}`), mustEnv(t, hostEnv))
	text, _ := json.Marshal(got)
	if !strings.Contains(string(text), `"weight":12345678901234567890`) {
		t.Errorf("got %s", text)
	}
}

func TestIPv6RangesAndRoutesWhenSubnetEnvHasThem(t *testing.T) {
	env := mustEnv(t, hostEnv+"FLANNEL_IPV6_NETWORK=fd00::/48\nFLANNEL_IPV6_SUBNET=fd00:0:0:3::1/64\n")
	ipam := buildDelegateConfig(mustConf(t, `{"cniVersion":"1.0.0"}`), env)["ipam"].(map[string]any)
	expectJSON(t, ipam["ranges"], `[[{"subnet": "10.244.3.0/24"}], [{"subnet": "fd00:0:0:3::/64"}]]`)
	expectJSON(t, ipam["routes"], `[{"dst": "10.244.0.0/16", "gw": "10.244.3.1"}, {"dst": "fd00::/48", "gw": "fd00:0:0:3::1"}]`)
}

func TestIPv6OnlySubnetEnvGivesOnlyIPv6RangesAndRoutes(t *testing.T) {
	env := mustEnv(t, "FLANNEL_IPV6_NETWORK=fd00::/48\nFLANNEL_IPV6_SUBNET=fd00:0:0:3::1/64\nFLANNEL_MTU=1430\nFLANNEL_IPMASQ=false\n")
	ipam := buildDelegateConfig(mustConf(t, `{"cniVersion":"1.0.0"}`), env)["ipam"].(map[string]any)
	expectJSON(t, ipam["ranges"], `[[{"subnet": "fd00:0:0:3::/64"}]]`)
	expectJSON(t, ipam["routes"], `[{"dst": "fd00::/48", "gw": "fd00:0:0:3::1"}]`)
	if _, err := parseSubnetEnv("FLANNEL_IPV6_NETWORK=fd00::/48\nFLANNEL_SUBNET=10.0.0.1/24\nFLANNEL_IPV6_SUBNET=fd00:0:0:3::1/64\nFLANNEL_MTU=1430\nFLANNEL_IPMASQ=false\n", "/x"); err == nil {
		t.Errorf("FLANNEL_SUBNET without FLANNEL_NETWORK was accepted")
	}
}

func TestIPMasqOnlyWhenTheAgentDoesNotMasquerade(t *testing.T) {
	env := mustEnv(t, strings.Replace(hostEnv, "FLANNEL_IPMASQ=true", "FLANNEL_IPMASQ=false", 1))
	if got := buildDelegateConfig(mustConf(t, `{"cniVersion":"1.0.0"}`), env)["ipMasq"]; got != true {
		t.Errorf("ipMasq = %v", got)
	}
}

func TestErrorObject(t *testing.T) {
	failure := &cniError{Code: codeTryAgainLater, Msg: "later"}
	expectJSON(t, json.RawMessage(failure.toJSON("0.4.0")), `{"cniVersion": "0.4.0", "code": 11, "msg": "later"}`)
	failure.Details = "why"
	expectJSON(t, json.RawMessage(failure.toJSON("1.0.0")), `{"cniVersion": "1.0.0", "code": 11, "msg": "later", "details": "why"}`)
}

func TestRuntimeConfigAndCapabilitiesReachTheDelegate(t *testing.T) {
	conf := mustConf(t, `{"cniVersion":"1.0.0","name":"cbr0","type":"flannel",
		"capabilities":{"portMappings":true,"ips":true,"mac":true,"bandwidth":true},
		"runtimeConfig":{"portMappings":[{"hostPort":8080,"containerPort":80,"protocol":"tcp"}],"ips":["10.244.3.9/24"],"mac":"0a:58:0a:f4:03:09","bandwidth":{"ingressRate":1000000}}}`)
	got := asJSON(t, buildDelegateConfig(conf, mustEnv(t, hostEnv))).(map[string]any)
	expectJSON(t, got["runtimeConfig"], `{"portMappings":[{"hostPort":8080,"containerPort":80,"protocol":"tcp"}],"ips":["10.244.3.9/24"],"mac":"0a:58:0a:f4:03:09","bandwidth":{"ingressRate":1000000}}`)
	expectJSON(t, got["capabilities"], `{"portMappings":true,"ips":true,"mac":true,"bandwidth":true}`)

	own := mustConf(t, `{"cniVersion":"1.0.0","name":"cbr0","delegate":{"capabilities":{"mac":true},"runtimeConfig":{"mac":"stale"}},"runtimeConfig":{"mac":"0a:58:0a:f4:03:09"}}`)
	mine := asJSON(t, buildDelegateConfig(own, mustEnv(t, hostEnv))).(map[string]any)
	expectJSON(t, mine["capabilities"], `{"mac":true}`)
	expectJSON(t, mine["runtimeConfig"], `{"mac":"0a:58:0a:f4:03:09"}`)

	none := asJSON(t, buildDelegateConfig(mustConf(t, `{"cniVersion":"1.0.0","name":"cbr0"}`), mustEnv(t, hostEnv))).(map[string]any)
	if _, present := none["runtimeConfig"]; present {
		t.Errorf("runtimeConfig without one from the runtime: %v", none)
	}
}
