package cli

import (
	"fmt"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/chartroom/chartroom/internal/server/auth"
)

// trustedPublisherKeys are the keys of an entry of trusted-publishers.
var trustedPublisherKeys = []string{"issuer", "audience", "claims", "namespace", "role"}

// parseTrustedPublishers reads the config file's trusted-publishers: a list of
// {issuer, audience, claims, namespace, role}. Each error names the entry and its line.
func parseTrustedPublishers(n *yaml.Node) ([]auth.TrustedPublisher, error) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil, nil
	}
	if n.Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("expected a list of rules, each {issuer, audience, claims, namespace, role}")
	}
	var out []auth.TrustedPublisher
	for i, e := range n.Content {
		tp, err := parseTrustedPublisher(e)
		if err != nil {
			return nil, fmt.Errorf("entry %d (line %d): %w", i+1, e.Line, err)
		}
		if err := auth.ValidateTrustedPublisher(tp); err != nil {
			return nil, fmt.Errorf("entry %d (line %d, issuer %s): %w", i+1, e.Line, tp.Issuer, err)
		}
		out = append(out, tp)
	}
	return out, nil
}

func parseTrustedPublisher(e *yaml.Node) (auth.TrustedPublisher, error) {
	var tp auth.TrustedPublisher
	if e.Kind != yaml.MappingNode {
		return tp, fmt.Errorf("expected a mapping with keys %s", strings.Join(trustedPublisherKeys, ", "))
	}
	seen := map[string]bool{}
	for j := 0; j+1 < len(e.Content); j += 2 {
		k, v := e.Content[j], e.Content[j+1]
		if !slices.Contains(trustedPublisherKeys, k.Value) {
			return tp, fmt.Errorf("unknown key %q (line %d): expected %s", k.Value, k.Line, strings.Join(trustedPublisherKeys, ", "))
		}
		seen[k.Value] = true
		if k.Value == "claims" {
			if v.Kind != yaml.MappingNode {
				return tp, fmt.Errorf("claims (line %d): expected a mapping of claim names to the values they must have, e.g. {repository: org/app}", v.Line)
			}
			tp.Claims = map[string]string{}
			for c := 0; c+1 < len(v.Content); c += 2 {
				ck, cv := v.Content[c], v.Content[c+1]
				if cv.Kind != yaml.ScalarNode || cv.Tag == "!!null" {
					return tp, fmt.Errorf("claim %s (line %d): expected a single value", ck.Value, cv.Line)
				}
				tp.Claims[ck.Value] = cv.Value
			}
			continue
		}
		if v.Kind != yaml.ScalarNode {
			return tp, fmt.Errorf("%s (line %d): expected a single value", k.Value, v.Line)
		}
		switch k.Value {
		case "issuer":
			tp.Issuer = v.Value
		case "audience":
			tp.Audience = v.Value
		case "namespace":
			p, err := auth.ParseNamespacePattern(v.Value)
			if err != nil {
				return tp, err
			}
			tp.Namespace = p
		case "role":
			r, err := auth.ParseRole(v.Value)
			if err != nil {
				return tp, err
			}
			tp.Role = r
		}
	}
	for _, k := range trustedPublisherKeys {
		if !seen[k] {
			return tp, fmt.Errorf("%s is missing (every rule names %s)", k, strings.Join(trustedPublisherKeys, ", "))
		}
	}
	return tp, nil
}
