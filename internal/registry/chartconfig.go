package registry

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"reflect"
	"sort"
	"strconv"

	"github.com/chartroom/chartroom/internal/chart"
)

// compareChartConfig refuses a chart config pushed over OCI (Chart.yaml as JSON) that says
// something the archive's Chart.yaml does not. Index entries and `helm show chart` are taken
// from the archive, so such a config would make the two protocols disagree; worse, its fields
// would have reached index.yaml, where one unknown field breaks `helm repo add` for the
// whole namespace.
//
// archived is chart.ConfigJSON of the archive's metadata: the very config `helm push` (v3
// and v4: json of helm's chart.Metadata after its loader) and `chartroom push` upload. Like
// is compared with like, as JSON values: helm omits empty fields, so a field absent and a
// field empty ("", false, 0, null, [], {}) are the same, in nested objects too; a config
// without apiVersion means v1, as helm's loader reads it. Any other difference, an unknown
// field included, is refused, naming the field and both values.
func compareChartConfig(sent, archived []byte) error {
	s, err := decodeJSONObject(sent)
	if err != nil {
		return chartInvalid("the chart config (Chart.yaml as JSON) is not a JSON object: %v", err)
	}
	a, err := decodeJSONObject(archived)
	if err != nil {
		return fmt.Errorf("the archive's chart metadata: %w", err)
	}
	if isEmptyJSON(normalizeJSON(s["apiVersion"])) {
		s["apiVersion"] = chart.APIVersionV1
	}
	path, sv, av, differ := jsonDiff("", normalizeJSON(s), normalizeJSON(a))
	if !differ {
		return nil
	}
	return chartInvalid("the chart config disagrees with the archive's Chart.yaml: %s is %s in the config but %s in the archive; push the config helm builds from this archive (helm push or chartroom push do), or fix the archive's Chart.yaml",
		path, showJSON(sv), showJSON(av))
}

func decodeJSONObject(b []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	if m == nil {
		return nil, fmt.Errorf("null")
	}
	if dec.More() {
		return nil, fmt.Errorf("data after the JSON object")
	}
	return m, nil
}

// normalizeJSON returns v with empty object fields removed (recursively) and numbers as
// exact rationals, so that 1 and 1.0 are equal; an empty value becomes nil.
func normalizeJSON(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, x := range v {
			if x = normalizeJSON(x); !isEmptyJSON(x) {
				out[k] = x
			}
		}
		if len(out) == 0 {
			return nil
		}
		return out
	case []any:
		if len(v) == 0 {
			return nil
		}
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = normalizeJSON(x)
		}
		return out
	case json.Number:
		if r, ok := new(big.Rat).SetString(v.String()); ok {
			if r.Sign() == 0 {
				return nil
			}
			return jsonNumber(r.RatString())
		}
		return v.String()
	case string:
		if v == "" {
			return nil
		}
		return v
	case bool:
		if !v {
			return nil
		}
		return v
	}
	return v
}

func isEmptyJSON(v any) bool { return v == nil }

// jsonNumber is a normalized JSON number: an exact rational, so that 1, 1.0 and 10e-1 are
// equal, and never equal to a string.
type jsonNumber string

// MarshalJSON writes the number back as JSON, for error messages.
func (n jsonNumber) MarshalJSON() ([]byte, error) {
	r, ok := new(big.Rat).SetString(string(n))
	if !ok {
		return json.Marshal(string(n))
	}
	if r.IsInt() {
		return []byte(r.Num().String()), nil
	}
	f, _ := r.Float64()
	return json.Marshal(f)
}

// jsonDiff finds the first difference between two normalized JSON values, in key order, and
// returns its path (e.g. maintainers[0].email) and both values there (nil when absent).
func jsonDiff(path string, a, b any) (string, any, any, bool) {
	am, aIsMap := a.(map[string]any)
	bm, bIsMap := b.(map[string]any)
	if aIsMap && bIsMap {
		keys := make([]string, 0, len(am)+len(bm))
		for k := range am {
			keys = append(keys, k)
		}
		for k := range bm {
			if _, ok := am[k]; !ok {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			p := k
			if path != "" {
				p = path + "." + k
			}
			if p, x, y, differ := jsonDiff(p, am[k], bm[k]); differ {
				return p, x, y, true
			}
		}
		return "", nil, nil, false
	}
	al, aIsList := a.([]any)
	bl, bIsList := b.([]any)
	if aIsList && bIsList && len(al) == len(bl) {
		for i := range al {
			if p, x, y, differ := jsonDiff(path+"["+strconv.Itoa(i)+"]", al[i], bl[i]); differ {
				return p, x, y, true
			}
		}
		return "", nil, nil, false
	}
	if reflect.DeepEqual(a, b) {
		return "", nil, nil, false
	}
	return path, a, b, true
}

// showJSON renders a normalized value for an error message, shortened.
func showJSON(v any) string {
	if v == nil {
		return "absent (or empty)"
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	const max = 120
	if len(b) > max {
		return string(b[:max]) + "…"
	}
	return string(b)
}
