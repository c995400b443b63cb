package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
)

// containerID is the CNI spec's container ID alphabet; the ID becomes a file name under dataDir.
var containerID = pluginName

func validContainerID(id string) (string, error) {
	if !containerID.MatchString(id) {
		return "", newError(codeInvalidEnvironment, "CNI_CONTAINERID %s is missing or not a valid container ID", quote(id))
	}
	return id, nil
}

func readSubnetEnv(conf *netConf) (*subnetEnv, error) {
	text, err := os.ReadFile(conf.SubnetFile)
	if err != nil {
		reason := err
		var pathErr *fs.PathError
		if errors.As(err, &pathErr) {
			reason = pathErr.Err
		}
		// Usually the agent has not written it yet: the runtime should retry.
		return nil, newError(codeTryAgainLater, "cannot read subnet file %s: %v; is the weft agent running?", conf.SubnetFile, reason)
	}
	return parseSubnetEnv(string(text), conf.SubnetFile)
}

// maxStoredName keeps the stored file's name within NAME_MAX (255) on every file system.
const maxStoredName = 200

// storedPath names the file ADD stores for the container. The CNI spec sets no length limit on
// container IDs, so a long one is stored under its SHA-256 instead: ADD and DEL then work for any
// valid ID, and short IDs keep Flannel's layout (the ID itself).
func storedPath(conf *netConf, id string) string {
	if len(id) > maxStoredName {
		sum := sha256.Sum256([]byte(id))
		return filepath.Join(conf.DataDir, "sha256-"+hex.EncodeToString(sum[:]))
	}
	return filepath.Join(conf.DataDir, id)
}

// readStored returns the delegate config ADD stored for the container, or nil if there is none.
func readStored(conf *netConf, id string) (map[string]any, error) {
	text, err := os.ReadFile(storedPath(conf, id))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, newError(codeIOFailure, "reading %s: %v", storedPath(conf, id), err)
	}
	config, err := decodeObject(text)
	if err != nil {
		return nil, newError(codeDecodeFailure, "stored delegate config %s is not a JSON object", storedPath(conf, id))
	}
	return config, nil
}

// store keeps the delegate config so that DEL and CHECK use exactly what ADD used, even if
// subnet.env changed since.
func store(conf *netConf, id string, config map[string]any) error {
	if err := os.MkdirAll(conf.DataDir, 0o700); err != nil {
		return newError(codeIOFailure, "creating dataDir %s: %v", conf.DataDir, err)
	}
	text, err := json.Marshal(config)
	if err != nil {
		return newError(codeIOFailure, "encoding the delegate config: %v", err)
	}
	path := storedPath(conf, id)
	if err := os.WriteFile(path+".tmp", text, 0o600); err != nil {
		return newError(codeIOFailure, "writing %s: %v", path, err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		return newError(codeIOFailure, "writing %s: %v", path, err)
	}
	return nil
}

func versionJSON() []byte {
	out, _ := json.Marshal(map[string]any{"cniVersion": "1.0.0", "supportedVersions": supportedVersions})
	return out
}

// runCommand runs one CNI command and returns what goes to stdout.
func runCommand(command, containerIDText string, stdin []byte) ([]byte, error) {
	if command == "VERSION" {
		return versionJSON(), nil
	}
	conf, err := parseNetConf(stdin)
	if err != nil {
		return nil, err
	}
	switch command {
	case "ADD":
		id, err := validContainerID(containerIDText)
		if err != nil {
			return nil, err
		}
		delegate, err := delegateFor(conf)
		if err != nil {
			return nil, err
		}
		if err := store(conf, id, delegate); err != nil {
			return nil, err
		}
		return invokeDelegate("ADD", delegate)
	case "DEL":
		id, err := validContainerID(containerIDText)
		if err != nil {
			return nil, err
		}
		delegate, err := readStored(conf, id)
		// Nothing stored: ADD never got that far, or DEL already ran. DEL must be idempotent.
		if err != nil || delegate == nil {
			return nil, err
		}
		withRuntimeConfig(delegate, conf)
		if _, err := invokeDelegate("DEL", delegate); err != nil {
			return nil, err
		}
		if err := os.Remove(storedPath(conf, id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, newError(codeIOFailure, "removing %s: %v", storedPath(conf, id), err)
		}
		return nil, nil
	case "CHECK":
		if versionIndex(conf.CNIVersion) < versionIndex("0.4.0") {
			return nil, newError(codeIncompatibleVersion, "CHECK needs cniVersion 0.4.0 or later, not %s", conf.CNIVersion)
		}
		id, err := validContainerID(containerIDText)
		if err != nil {
			return nil, err
		}
		delegate, err := readStored(conf, id)
		if err != nil {
			return nil, err
		}
		if delegate == nil {
			return nil, newError(codeUnknownContainer, "no ADD recorded for container %s in %s", id, conf.DataDir)
		}
		if prevResult, present := conf.Raw["prevResult"]; present {
			delegate["prevResult"] = prevResult
		}
		withRuntimeConfig(delegate, conf)
		return invokeDelegate("CHECK", delegate)
	default:
		return nil, newError(codeInvalidEnvironment, "CNI_COMMAND %s is not ADD, DEL, CHECK or VERSION", quote(command))
	}
}

// delegateFor builds the delegate config from the subnet file the network config names.
func delegateFor(conf *netConf) (map[string]any, error) {
	env, err := readSubnetEnv(conf)
	if err != nil {
		return nil, err
	}
	return buildDelegateConfig(conf, env), nil
}

// delegateConfigFor is the delegate config ADD would pass on for this network config: what
// `flannel delegate-config` prints for an operator.
func delegateConfigFor(stdin []byte) ([]byte, error) {
	conf, err := parseNetConf(stdin)
	if err != nil {
		return nil, err
	}
	delegate, err := delegateFor(conf)
	if err != nil {
		return nil, err
	}
	return json.MarshalIndent(delegate, "", "  ")
}
