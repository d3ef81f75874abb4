package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"
)

// setting is one option of a command that can come from a flag --<name>, an environment
// variable CHARTROOM_<NAME> (upper-case, dashes as underscores) or the config file key
// <name>. Precedence: flag > environment > config file > default.
type setting struct {
	name    string
	usage   string
	typ     string // the value's kind in --help: "string", "size", "duration", …
	def     string // the default in --help; "" shows none
	boolean bool   // --name alone means true
	list    bool   // repeatable; a later layer replaces an earlier one's values
	noFlag  bool   // a secret: read from the environment and the config file only, never a flag (visible in ps)

	// parse checks one value and returns it converted; its error says what is expected.
	parse func(string) (any, error)
	// store keeps a parsed value (appends, for a list).
	store func(any)
	// clear empties a list before a layer provides its values.
	clear func()
	// file, when set, makes the setting one of the config file only (no flag, no
	// environment variable): it reads the setting's YAML value, whatever its shape.
	file func(*yaml.Node) error
}

// envName is the environment variable of a setting.
func (s *setting) envName() string {
	return "CHARTROOM_" + strings.ToUpper(strings.ReplaceAll(s.name, "-", "_"))
}

func (s *setting) apply(values []string) error {
	if s.list {
		s.clear()
	}
	for _, v := range values {
		x, err := s.parse(v)
		if err != nil {
			return err
		}
		s.store(x)
	}
	return nil
}

// settings is a command's table of settings.
type settings []*setting

func (ss settings) byName(name string) *setting {
	for _, s := range ss {
		if s.name == name {
			return s
		}
	}
	return nil
}

// flagValue is the pflag.Value of a setting: it checks values as they are parsed (so a bad
// one is reported against its flag) and keeps them for resolve.
type flagValue struct {
	s      *setting
	values []string
}

func (f *flagValue) String() string { return strings.Join(f.values, ",") }
func (f *flagValue) Type() string   { return f.s.typ }

func (f *flagValue) Set(v string) error {
	if _, err := f.s.parse(v); err != nil {
		return err
	}
	if f.s.list {
		f.values = append(f.values, v)
	} else {
		f.values = []string{v}
	}
	return nil
}

// register adds one flag per setting to fs.
func (ss settings) register(fs *pflag.FlagSet) {
	for _, s := range ss {
		if s.noFlag || s.file != nil {
			continue
		}
		usage := fmt.Sprintf("%s (env %s)", s.usage, s.envName())
		f := fs.VarPF(&flagValue{s: s}, s.name, "", usage)
		f.DefValue = s.def
		if s.boolean {
			f.NoOptDefVal = "true"
		}
	}
}

// resolve applies the layers in order of increasing precedence: the config file at
// configPath (if any), the environment, the flags given on the command line.
func (ss settings) resolve(fs *pflag.FlagSet, getenv func(string) (string, bool), configPath string) error {
	if configPath != "" {
		if err := ss.loadFile(configPath); err != nil {
			return err
		}
	}
	for _, s := range ss {
		if s.file != nil {
			continue
		}
		// A command's own flag of the same name (namespace set --anonymous-read sets a
		// namespace's, not serve's) is not this setting.
		if f := fs.Lookup(s.name); f != nil && f.Changed {
			fv, ok := f.Value.(*flagValue)
			if !ok {
				continue
			}
			if err := s.apply(fv.values); err != nil {
				return fmt.Errorf("--%s: %w", s.name, err)
			}
			continue
		}
		v, ok := getenv(s.envName())
		if !ok || v == "" {
			continue
		}
		values := []string{v}
		if s.list {
			values = splitList(v)
		}
		if err := s.apply(values); err != nil {
			return fmt.Errorf("invalid %s (--%s): %w", s.envName(), s.name, err)
		}
	}
	return nil
}

func splitList(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// loadFile applies a YAML config file whose keys are the settings' names.
func (ss settings) loadFile(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // empty file
		}
		return fmt.Errorf("config file %s: %v", path, oneLine(err))
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return nil
	}
	if root.Kind != yaml.MappingNode {
		return fmt.Errorf("config file %s: expected a mapping of settings such as \"listen: :8080\"", path)
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		s := ss.byName(k.Value)
		if s == nil {
			return fmt.Errorf("config file %s line %d: unknown setting %q; known settings: %s", path, k.Line, k.Value, ss.names())
		}
		if s.file != nil {
			if err := s.file(v); err != nil {
				return fmt.Errorf("config file %s line %d: %s: %w", path, v.Line, s.name, err)
			}
			continue
		}
		var values []string
		switch {
		case v.Kind == yaml.ScalarNode && v.Tag == "!!null":
			continue
		case v.Kind == yaml.ScalarNode:
			values = []string{v.Value}
		case v.Kind == yaml.SequenceNode && s.list:
			for _, item := range v.Content {
				if item.Kind != yaml.ScalarNode {
					return fmt.Errorf("config file %s line %d: %s: expected a list of strings", path, item.Line, s.name)
				}
				values = append(values, item.Value)
			}
		default:
			return fmt.Errorf("config file %s line %d: %s: expected a single value", path, v.Line, s.name)
		}
		if err := s.apply(values); err != nil {
			return fmt.Errorf("config file %s line %d: %s: %w", path, v.Line, s.name, err)
		}
	}
	return nil
}

func (ss settings) names() string {
	var n []string
	for _, s := range ss {
		n = append(n, s.name)
	}
	sort.Strings(n)
	return strings.Join(n, ", ")
}

func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}

// Parsers shared by settings. Their errors say what is expected.

func parseBool(v string) (any, error) {
	b, err := strconv.ParseBool(v)
	if err != nil {
		return nil, fmt.Errorf("%q is not a boolean: expected true or false", v)
	}
	return b, nil
}

func parseDuration(v string) (any, error) {
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return nil, fmt.Errorf("%q is not a duration: expected e.g. 30s, 2m or 1h30m", v)
	}
	return d, nil
}

func parseOneOf(choices ...string) func(string) (any, error) {
	return func(v string) (any, error) {
		for _, c := range choices {
			if v == c {
				return v, nil
			}
		}
		return nil, fmt.Errorf("%q is not allowed: expected %s", v, strings.Join(choices, " or "))
	}
}
