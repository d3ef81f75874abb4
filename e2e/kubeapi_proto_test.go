package e2e

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The Kubernetes protobuf encoding, as far as the fake API server (kubeapi_test.go) needs it:
// helm's release storage writes Secrets through client-go's typed client, which sends
// application/vnd.kubernetes.protobuf and does not fall back to JSON on a 415. Only what a
// Secret carries is decoded (k8s.io/api/core/v1 generated.proto); anything else is an error,
// so that a field the fake server would silently drop shows up as a failed request.

// protoField is one field of a protobuf message: a varint or a length-delimited value.
type protoField struct {
	num    int
	varint uint64
	bytes  []byte
	isLen  bool
}

func protoFields(b []byte) ([]protoField, error) {
	var out []protoField
	for len(b) > 0 {
		key, n := binary.Uvarint(b)
		if n <= 0 {
			return nil, errors.New("bad protobuf field key")
		}
		b = b[n:]
		f := protoField{num: int(key >> 3)}
		switch key & 7 {
		case 0:
			v, n := binary.Uvarint(b)
			if n <= 0 {
				return nil, errors.New("bad protobuf varint")
			}
			f.varint, b = v, b[n:]
		case 2:
			l, n := binary.Uvarint(b)
			if n <= 0 || uint64(len(b)-n) < l {
				return nil, errors.New("bad protobuf length")
			}
			f.bytes, f.isLen, b = b[n:n+int(l)], true, b[n+int(l):]
		default:
			return nil, fmt.Errorf("protobuf wire type %d is not decoded here", key&7)
		}
		out = append(out, f)
	}
	return out, nil
}

// protoMapEntry decodes a map<string, string|bytes> entry: key 1, value 2.
func protoMapEntry(b []byte) (string, []byte, error) {
	fs, err := protoFields(b)
	if err != nil {
		return "", nil, err
	}
	var k string
	var v []byte
	for _, f := range fs {
		switch f.num {
		case 1:
			k = string(f.bytes)
		case 2:
			v = f.bytes
		}
	}
	return k, v, nil
}

// decodeSecretProtobuf decodes a runtime.Unknown envelope ("k8s\x00", TypeMeta, raw) holding a
// v1 Secret into its JSON form.
func decodeSecretProtobuf(body []byte) (map[string]any, error) {
	if len(body) < 4 || string(body[:4]) != "k8s\x00" {
		return nil, errors.New("no k8s protobuf magic")
	}
	env, err := protoFields(body[4:])
	if err != nil {
		return nil, err
	}
	obj := map[string]any{}
	var raw []byte
	for _, f := range env {
		switch f.num {
		case 1: // TypeMeta
			tm, err := protoFields(f.bytes)
			if err != nil {
				return nil, err
			}
			for _, t := range tm {
				switch t.num {
				case 1:
					obj["apiVersion"] = string(t.bytes)
				case 2:
					obj["kind"] = string(t.bytes)
				}
			}
		case 2:
			raw = f.bytes
		}
	}
	fs, err := protoFields(raw)
	if err != nil {
		return nil, err
	}
	data, stringData := map[string]any{}, map[string]any{}
	for _, f := range fs {
		switch f.num {
		case 1:
			md, err := decodeObjectMetaProtobuf(f.bytes)
			if err != nil {
				return nil, err
			}
			obj["metadata"] = md
		case 2, 4:
			k, v, err := protoMapEntry(f.bytes)
			if err != nil {
				return nil, err
			}
			if f.num == 2 {
				data[k] = b64(v)
			} else {
				stringData[k] = string(v)
			}
		case 3:
			obj["type"] = string(f.bytes)
		case 5:
			obj["immutable"] = f.varint != 0
		default:
			return nil, fmt.Errorf("Secret protobuf field %d is not decoded here", f.num)
		}
	}
	if len(data) > 0 {
		obj["data"] = data
	}
	if len(stringData) > 0 {
		obj["stringData"] = stringData
	}
	return obj, nil
}

func decodeObjectMetaProtobuf(b []byte) (map[string]any, error) {
	fs, err := protoFields(b)
	if err != nil {
		return nil, err
	}
	md := map[string]any{}
	labels, annotations := map[string]any{}, map[string]any{}
	for _, f := range fs {
		switch f.num {
		case 1:
			md["name"] = string(f.bytes)
		case 2:
			md["generateName"] = string(f.bytes)
		case 3:
			md["namespace"] = string(f.bytes)
		case 4, 5, 7, 8: // selfLink, uid, generation, creationTimestamp: the server's
		case 6:
			md["resourceVersion"] = string(f.bytes)
		case 11, 12:
			k, v, err := protoMapEntry(f.bytes)
			if err != nil {
				return nil, err
			}
			if f.num == 11 {
				labels[k] = string(v)
			} else {
				annotations[k] = string(v)
			}
		default:
			return nil, fmt.Errorf("ObjectMeta protobuf field %d is not decoded here", f.num)
		}
	}
	if len(labels) > 0 {
		md["labels"] = labels
	}
	if len(annotations) > 0 {
		md["annotations"] = annotations
	}
	return md, nil
}
