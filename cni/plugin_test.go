package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeDelegate installs an executable named bridge in a fresh CNI_PATH. It records the command,
// CNI_NETNS and its stdin under dir, then prints $REPLY to stdout and exits with $STATUS.
type fakeDelegate struct {
	dir string
}

func newFakeDelegate(t *testing.T, reply string, status int) *fakeDelegate {
	t.Helper()
	dir := t.TempDir()
	script := "#!/bin/sh\n" +
		`echo "$CNI_COMMAND $CNI_NETNS" >> "` + dir + `/calls"` + "\n" +
		`cat > "` + dir + `/stdin-$CNI_COMMAND"` + "\n" +
		`echo 'delegate stderr' >&2` + "\n" +
		"printf '%s' '" + reply + "'\n" +
		"exit " + string(rune('0'+status)) + "\n"
	if err := os.WriteFile(filepath.Join(dir, "bridge"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CNI_PATH", "/nonexistent:"+dir)
	t.Setenv("CNI_NETNS", "/var/run/netns/pod1")
	return &fakeDelegate{dir: dir}
}

func (d *fakeDelegate) calls(t *testing.T) []string {
	text, err := os.ReadFile(filepath.Join(d.dir, "calls"))
	if err != nil {
		return nil
	}
	return strings.Split(strings.TrimSpace(string(text)), "\n")
}

func (d *fakeDelegate) stdin(t *testing.T, command string) map[string]any {
	t.Helper()
	text, err := os.ReadFile(filepath.Join(d.dir, "stdin-"+command))
	if err != nil {
		t.Fatal(err)
	}
	var config map[string]any
	if err := json.Unmarshal(text, &config); err != nil {
		t.Fatal(err)
	}
	return config
}

// hostConf is a network config whose subnet.env and dataDir live in a fresh directory.
func hostConf(t *testing.T, version string) (conf string, subnetFile string, dataDir string) {
	t.Helper()
	dir := t.TempDir()
	subnetFile = filepath.Join(dir, "subnet.env")
	dataDir = filepath.Join(dir, "data")
	if err := os.WriteFile(subnetFile, []byte(hostEnv), 0o644); err != nil {
		t.Fatal(err)
	}
	text, _ := json.Marshal(map[string]any{"cniVersion": version, "name": "cbr0", "type": "flannel", "subnetFile": subnetFile, "dataDir": dataDir})
	return string(text), subnetFile, dataDir
}

func expectCode(t *testing.T, err error, code int, message string) {
	t.Helper()
	failure, ok := err.(*cniError)
	if !ok || failure.Code != code || !strings.Contains(failure.Msg, message) {
		t.Errorf("got %#v, want code %d with %q", err, code, message)
	}
}

func TestAddPassesTheDelegateConfigAndTheRuntimeEnvironment(t *testing.T) {
	delegate := newFakeDelegate(t, `{"cniVersion":"1.0.0","ips":[]}`, 0)
	conf, _, dataDir := hostConf(t, "1.0.0")
	out, err := runCommand("ADD", "c1", []byte(conf))
	if err != nil || string(out) != `{"cniVersion":"1.0.0","ips":[]}` {
		t.Fatalf("ADD: %s, %v", out, err)
	}
	if calls := delegate.calls(t); len(calls) != 1 || calls[0] != "ADD /var/run/netns/pod1" {
		t.Errorf("calls: %v", calls)
	}
	passed := delegate.stdin(t, "ADD")
	if passed["type"] != "bridge" || passed["name"] != "cbr0" || passed["mtu"] != 1450.0 {
		t.Errorf("delegate got %v", passed)
	}
	stored, err := os.ReadFile(filepath.Join(dataDir, "c1"))
	if err != nil {
		t.Fatal(err)
	}
	info, _ := os.Stat(dataDir)
	if info.Mode().Perm() != 0o700 {
		t.Errorf("dataDir mode %v", info.Mode().Perm())
	}
	var storedConfig map[string]any
	_ = json.Unmarshal(stored, &storedConfig)
	if storedConfig["name"] != "cbr0" {
		t.Errorf("stored %s", stored)
	}
}

func TestDelUsesWhatAddStoredAndIsIdempotent(t *testing.T) {
	delegate := newFakeDelegate(t, "", 0)
	conf, subnetFile, dataDir := hostConf(t, "0.3.1")
	if _, err := runCommand("ADD", "c1", []byte(conf)); err != nil {
		t.Fatal(err)
	}
	// The agent moved to another subnet meanwhile: DEL must still release what ADD took.
	if err := os.WriteFile(subnetFile, []byte(strings.Replace(hostEnv, "10.244.3.1/24", "10.244.9.1/24", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := runCommand("DEL", "c1", []byte(conf)); err != nil || len(out) != 0 {
		t.Fatalf("DEL: %q, %v", out, err)
	}
	ranges := delegate.stdin(t, "DEL")["ipam"].(map[string]any)["ranges"]
	if text, _ := json.Marshal(ranges); string(text) != `[[{"subnet":"10.244.3.0/24"}]]` {
		t.Errorf("DEL ranges %s", text)
	}
	if _, err := os.Stat(filepath.Join(dataDir, "c1")); !os.IsNotExist(err) {
		t.Errorf("stored config left behind: %v", err)
	}
	if _, err := runCommand("DEL", "c1", []byte(conf)); err != nil {
		t.Fatalf("second DEL: %v", err)
	}
	if calls := delegate.calls(t); len(calls) != 2 {
		t.Errorf("the second DEL ran the delegate: %v", calls)
	}
}

func TestCheckPassesPrevResult(t *testing.T) {
	delegate := newFakeDelegate(t, "", 0)
	conf, _, _ := hostConf(t, "1.0.0")
	if _, err := runCommand("ADD", "c1", []byte(conf)); err != nil {
		t.Fatal(err)
	}
	withPrev := strings.TrimSuffix(conf, "}") + `,"prevResult":{"cniVersion":"1.0.0","ips":[{"address":"10.244.3.2/24"}]}}`
	if _, err := runCommand("CHECK", "c1", []byte(withPrev)); err != nil {
		t.Fatal(err)
	}
	if prev, ok := delegate.stdin(t, "CHECK")["prevResult"].(map[string]any); !ok || prev["cniVersion"] != "1.0.0" {
		t.Errorf("CHECK got %v", delegate.stdin(t, "CHECK"))
	}
	_, err := runCommand("CHECK", "c2", []byte(conf))
	expectCode(t, err, codeUnknownContainer, "no ADD recorded for container c2")
	old, _, _ := hostConf(t, "0.3.1")
	_, err = runCommand("CHECK", "c1", []byte(old))
	expectCode(t, err, codeIncompatibleVersion, "CHECK needs cniVersion 0.4.0 or later, not 0.3.1")
}

func TestDelegateErrorsReachTheRuntime(t *testing.T) {
	newFakeDelegate(t, `{"cniVersion":"1.0.0","code":11,"msg":"no IP addresses available","details":"range full"}`, 1)
	conf, _, _ := hostConf(t, "1.0.0")
	_, err := runCommand("ADD", "c1", []byte(conf))
	expectCode(t, err, 11, "bridge ADD failed: no IP addresses available")
	if failure, _ := err.(*cniError); failure == nil || failure.Details != "range full" {
		t.Errorf("details lost: %#v", err)
	}

	newFakeDelegate(t, "not json", 2)
	_, err = runCommand("ADD", "c1", []byte(conf))
	expectCode(t, err, codeIOFailure, "bridge ADD failed: delegate stderr")
}

func TestEnvironmentErrors(t *testing.T) {
	newFakeDelegate(t, "", 0)
	conf, _, _ := hostConf(t, "1.0.0")
	_, err := runCommand("ADD", "../etc", []byte(conf))
	expectCode(t, err, codeInvalidEnvironment, `CNI_CONTAINERID "../etc" is missing or not a valid container ID`)
	_, err = runCommand("ADD", "", []byte(conf))
	expectCode(t, err, codeInvalidEnvironment, `CNI_CONTAINERID "" is missing`)
	_, err = runCommand("GC", "c1", []byte(conf))
	expectCode(t, err, codeInvalidEnvironment, `CNI_COMMAND "GC" is not ADD, DEL, CHECK or VERSION`)
	t.Setenv("CNI_PATH", t.TempDir())
	_, err = runCommand("ADD", "c1", []byte(conf))
	expectCode(t, err, codeInvalidEnvironment, "delegate plugin bridge not found in CNI_PATH")
}

func TestMissingSubnetFileAsksTheRuntimeToRetry(t *testing.T) {
	newFakeDelegate(t, "", 0)
	_, err := runCommand("ADD", "c1", []byte(`{"cniVersion":"1.0.0","subnetFile":"/nonexistent/weft.env"}`))
	expectCode(t, err, codeTryAgainLater, "cannot read subnet file /nonexistent/weft.env: no such file or directory; is the weft agent running?")
}

func TestVersion(t *testing.T) {
	out, err := runCommand("VERSION", "", nil)
	if err != nil || string(out) != `{"cniVersion":"1.0.0","supportedVersions":["0.1.0","0.2.0","0.3.0","0.3.1","0.4.0","1.0.0"]}` {
		t.Errorf("VERSION: %s, %v", out, err)
	}
}

func TestDelegateConfigPrintsWhatAddWouldPass(t *testing.T) {
	conf, _, dataDir := hostConf(t, "1.0.0")
	out, err := delegateConfigFor([]byte(conf))
	if err != nil {
		t.Fatal(err)
	}
	expectJSON(t, json.RawMessage(out), `{
		"cniVersion": "1.0.0", "name": "cbr0", "type": "bridge", "isGateway": true, "mtu": 1450, "ipMasq": false,
		"ipam": {"type": "host-local", "ranges": [[{"subnet": "10.244.3.0/24"}]], "routes": [{"dst": "10.244.0.0/16", "gw": "10.244.3.1"}]}
	}`)
	if _, err := os.Stat(dataDir); !os.IsNotExist(err) {
		t.Errorf("delegate-config wrote to dataDir")
	}
}

func TestDelAndCheckPassTheirOwnRuntimeConfig(t *testing.T) {
	delegate := newFakeDelegate(t, "", 0)
	conf, _, _ := hostConf(t, "1.0.0")
	withRuntime := func(mac string) []byte {
		return []byte(strings.TrimSuffix(conf, "}") + `,"runtimeConfig":{"mac":"` + mac + `"}}`)
	}
	if _, err := runCommand("ADD", "c1", withRuntime("0a:58:00:00:00:01")); err != nil {
		t.Fatal(err)
	}
	if _, err := runCommand("CHECK", "c1", withRuntime("0a:58:00:00:00:02")); err != nil {
		t.Fatal(err)
	}
	if _, err := runCommand("DEL", "c1", withRuntime("0a:58:00:00:00:03")); err != nil {
		t.Fatal(err)
	}
	for command, mac := range map[string]string{"ADD": "0a:58:00:00:00:01", "CHECK": "0a:58:00:00:00:02", "DEL": "0a:58:00:00:00:03"} {
		if got := delegate.stdin(t, command)["runtimeConfig"]; got.(map[string]any)["mac"] != mac {
			t.Errorf("%s got runtimeConfig %v, want mac %s", command, got, mac)
		}
	}
}

func TestLongContainerIDsAddAndDelLikeShortOnes(t *testing.T) {
	delegate := newFakeDelegate(t, "", 0)
	conf, _, dataDir := hostConf(t, "1.0.0")
	id := strings.Repeat("a", 300)
	if _, err := runCommand("ADD", id, []byte(conf)); err != nil {
		t.Fatalf("ADD: %v", err)
	}
	for i := 0; i < 2; i++ {
		if _, err := runCommand("DEL", id, []byte(conf)); err != nil {
			t.Fatalf("DEL %d: %v", i+1, err)
		}
	}
	if calls := delegate.calls(t); len(calls) != 2 {
		t.Errorf("delegate calls %v, want ADD and one DEL", calls)
	}
	if entries, _ := os.ReadDir(dataDir); len(entries) != 0 {
		t.Errorf("stored config left behind: %v", entries)
	}
}
