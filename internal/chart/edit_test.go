package chart

import (
	"strings"
	"testing"
)

func TestSetChartYAMLValue(t *testing.T) {
	const src = "# top comment\napiVersion: v2\nname: demo # the name\nversion: 1.2.3   # bump me\nappVersion: \"1.0\"\nkubeVersion: '>=1.20.0-0'\n"
	tests := []struct {
		name, in, key, value, want string
	}{
		{"plain stays plain", src, "version", "1.3.0", strings.Replace(src, "1.2.3", "1.3.0", 1)},
		{"double quotes kept", src, "appVersion", "2.0", strings.Replace(src, `"1.0"`, `"2.0"`, 1)},
		{"single quotes kept", src, "kubeVersion", ">=1.25.0-0", strings.Replace(src, "'>=1.20.0-0'", "'>=1.25.0-0'", 1)},
		{"float-looking value quoted", src, "version", "1.0", strings.Replace(src, "1.2.3", `"1.0"`, 1)},
		{"bool-looking value quoted", src, "version", "yes", strings.Replace(src, "1.2.3", `"yes"`, 1)},
		{"missing key appended", "apiVersion: v2\nname: x\nversion: 1.0.0", "appVersion", "1.16.0", "apiVersion: v2\nname: x\nversion: 1.0.0\nappVersion: 1.16.0\n"},
		{"special characters", "name: x\nappVersion: a\n", "appVersion", `he said "hi": ok`, "name: x\nappVersion: \"he said \\\"hi\\\": ok\"\n"},
		{"unicode before value", "description: é\nversion: 1.0.0\n", "version", "2.0.0", "description: é\nversion: 2.0.0\n"},
		{"crlf kept", "name: x\r\nversion: 1.0.0\r\n", "version", "1.0.1", "name: x\r\nversion: 1.0.1\r\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := SetChartYAMLValue([]byte(tc.in), tc.key, tc.value)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
	for _, tc := range []struct{ name, in string }{
		{"flow mapping", "{name: x, version: 1.0.0}\n"},
		{"block scalar", "name: x\nversion: |\n  1.0.0\n"},
		{"multi-line plain scalar", "name: x\nversion: 1.0.0\n  continued\n"},
		{"not YAML", "name: [\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := SetChartYAMLValue([]byte(tc.in), "version", "2.0.0"); err == nil {
				t.Error("no error")
			}
		})
	}
}

func TestQuoteChartYAMLValue(t *testing.T) {
	cases := []struct{ name, in, want string }{
		{"plain number-like", "name: a # keep\nappVersion: 1.10 # app\n", "name: a # keep\nappVersion: \"1.10\" # app\n"},
		{"plain text", "appVersion: v2\nversion: 1.0.0\n", "appVersion: \"v2\"\nversion: 1.0.0\n"},
		{"already double-quoted", "appVersion: \"1.0\"\n", "appVersion: \"1.0\"\n"},
		{"single-quoted", "appVersion: '1.0'\n", "appVersion: '1.0'\n"},
		{"missing", "name: a\n", "name: a\n"},
		{"null", "appVersion: ~\n", "appVersion: ~\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := QuoteChartYAMLValue([]byte(tc.in), "appVersion")
			if err != nil || string(got) != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}
