package main

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
)

var supportedVersions = []string{"0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0"}

const (
	defaultSubnetFile = "/run/flannel/subnet.env"
	defaultDataDir    = "/var/lib/cni/flannel"
)

// netConf is the plugin's own network configuration, as the runtime passes it on stdin.
type netConf struct {
	CNIVersion string
	Name       string
	Type       string
	SubnetFile string
	DataDir    string
	Delegate   map[string]any
	IPAM       map[string]any
	// Raw is the whole object, for fields the runtime adds (prevResult, runtimeConfig, args).
	Raw map[string]any
}

// decodeObject parses one JSON object, keeping numbers as written so that values the plugin
// passes through to its delegate reach it unchanged.
func decodeObject(data []byte) (map[string]any, error) {
	decoder := json.NewDecoder(bytes.NewReader(data))
	decoder.UseNumber()
	var value any
	if err := decoder.Decode(&value); err != nil {
		return nil, newError(codeDecodeFailure, "network config on stdin is not JSON: %v", err)
	}
	if _, err := decoder.Token(); err != io.EOF {
		return nil, newError(codeDecodeFailure, "network config on stdin is not JSON: data after the object")
	}
	object, ok := value.(map[string]any)
	if !ok {
		return nil, newError(codeDecodeFailure, "network config on stdin is not a JSON object")
	}
	return object, nil
}

func invalidField(field string, value any, reason string) *cniError {
	return newError(codeInvalidNetworkConfig, "network config field %s: %s (got %s)", field, reason, quote(value))
}

func optionalString(raw map[string]any, field, fallback string) (string, error) {
	value, present := raw[field]
	if !present {
		return fallback, nil
	}
	text, ok := value.(string)
	if !ok || text == "" {
		return "", invalidField(field, value, "must be a non-empty string")
	}
	return text, nil
}

func optionalObject(raw map[string]any, field string) (map[string]any, error) {
	value, present := raw[field]
	if !present {
		return map[string]any{}, nil
	}
	object, ok := value.(map[string]any)
	if !ok {
		return nil, invalidField(field, value, "must be an object")
	}
	return object, nil
}

func isSupported(version string) bool {
	return versionIndex(version) >= 0
}

func versionIndex(version string) int {
	for i, v := range supportedVersions {
		if v == version {
			return i
		}
	}
	return -1
}

func parseNetConf(data []byte) (*netConf, error) {
	raw, err := decodeObject(data)
	if err != nil {
		return nil, err
	}
	conf := &netConf{Raw: raw}
	if conf.CNIVersion, err = optionalString(raw, "cniVersion", "0.1.0"); err != nil {
		return nil, err
	}
	if !isSupported(conf.CNIVersion) {
		return nil, newError(codeIncompatibleVersion, "cniVersion %s is not supported (supported: %s)", conf.CNIVersion, strings.Join(supportedVersions, ", "))
	}
	if conf.DataDir, err = optionalString(raw, "dataDir", defaultDataDir); err != nil {
		return nil, err
	}
	if !strings.HasPrefix(conf.DataDir, "/") {
		return nil, invalidField("dataDir", conf.DataDir, "must be an absolute path")
	}
	if conf.Name, err = optionalString(raw, "name", "weft"); err != nil {
		return nil, err
	}
	if conf.Type, err = optionalString(raw, "type", "flannel"); err != nil {
		return nil, err
	}
	if conf.SubnetFile, err = optionalString(raw, "subnetFile", defaultSubnetFile); err != nil {
		return nil, err
	}
	if conf.Delegate, err = optionalObject(raw, "delegate"); err != nil {
		return nil, err
	}
	if delegateType, present := conf.Delegate["type"]; present {
		if text, ok := delegateType.(string); !ok || !pluginName.MatchString(text) {
			return nil, invalidField("delegate.type", delegateType, "must be a plugin name")
		}
	}
	if conf.IPAM, err = optionalObject(raw, "ipam"); err != nil {
		return nil, err
	}
	return conf, nil
}
