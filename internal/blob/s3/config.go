package s3

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Config says which bucket and prefix hold the blobs, where the S3 service is and who to be
// there. ParseURL reads the location from a storage URL; the credentials come from the
// caller (a config file) or, when empty, FromEnv.
type Config struct {
	// Bucket is the bucket's name.
	Bucket string
	// Prefix is the key prefix every object of the store starts with ("" for none), without
	// leading or trailing slashes: keys are <Prefix>/blobs/…, <Prefix>/uploads/….
	Prefix string
	// Endpoint is the service's base URL, e.g. http://127.0.0.1:7070 or https://minio.example.com;
	// "" is AWS S3 itself (its regional endpoint).
	Endpoint string
	// Region is the signing region; "" means $AWS_REGION, then $AWS_DEFAULT_REGION, then us-east-1.
	Region string
	// PathStyle addresses the bucket as <endpoint>/<bucket>/<key> instead of
	// <bucket>.<endpoint>/<key> (most S3-compatible servers need it).
	PathStyle bool
	// AccessKeyID, SecretAccessKey and SessionToken are the credentials; with AccessKeyID
	// empty, FromEnv reads AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN.
	AccessKeyID, SecretAccessKey, SessionToken string
}

// URL query parameters ParseURL understands.
var urlParams = map[string]string{
	"endpoint":   "the service's base URL, e.g. endpoint=http://127.0.0.1:7070 (omit for AWS S3)",
	"region":     "the signing region, e.g. region=eu-west-1",
	"path-style": "path-style=true addresses the bucket in the path (MinIO, versitygw and most S3-compatible servers)",
}

// bucketPattern is what S3 accepts as a bucket name (lower-case letters, digits, dots, dashes).
var bucketPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

// prefixSegment is one segment of a key prefix: no control characters, no "." or "..".
var prefixSegment = regexp.MustCompile(`^[A-Za-z0-9!_.*'()-]+$`)

// ParseURL reads a storage URL: s3://BUCKET[/PREFIX][?endpoint=URL&region=REGION&path-style=true].
// It refuses anything it would have to guess about, saying what is expected.
func ParseURL(raw string) (Config, error) {
	const form = "expected s3://BUCKET[/PREFIX][?endpoint=URL&region=REGION&path-style=true]"
	u, err := url.Parse(raw)
	if err != nil {
		return Config{}, fmt.Errorf("%q is not a URL: %s", raw, form)
	}
	if u.Scheme != "s3" {
		return Config{}, fmt.Errorf("%q: unsupported scheme %q: %s", raw, u.Scheme, form)
	}
	if u.User != nil {
		return Config{}, fmt.Errorf("%q: credentials do not belong in the storage URL (it is logged): set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or storage-access-key-id and storage-secret-access-key in the config file", redact(u))
	}
	if u.Opaque != "" || u.Host == "" {
		return Config{}, fmt.Errorf("%q names no bucket: %s", raw, form)
	}
	if u.Port() != "" || !bucketPattern.MatchString(u.Host) || strings.Contains(u.Host, "..") {
		return Config{}, fmt.Errorf("%q: %q is not a bucket name (3 to 63 lower-case letters, digits, dots and dashes): %s; the service's address goes in endpoint=", raw, u.Host, form)
	}
	if u.Fragment != "" {
		return Config{}, fmt.Errorf("%q: unexpected fragment #%s: %s", raw, u.Fragment, form)
	}
	c := Config{Bucket: u.Host}
	if p := strings.Trim(u.Path, "/"); p != "" {
		for _, seg := range strings.Split(p, "/") {
			if !prefixSegment.MatchString(seg) || seg == "." || seg == ".." {
				return Config{}, fmt.Errorf("%q: prefix %q: each part between slashes must be non-empty letters, digits or !_.*'()- and not \".\" or \"..\" (use another prefix)", raw, p)
			}
		}
		c.Prefix = p
	}
	q := u.Query()
	var unknown []string
	for k := range q {
		if _, ok := urlParams[k]; !ok {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return Config{}, fmt.Errorf("%q: unknown parameter %s; known: %s", raw, strings.Join(unknown, ", "), knownParams())
	}
	for k, vs := range q {
		if len(vs) > 1 {
			return Config{}, fmt.Errorf("%q: parameter %s given %d times; give it once", raw, k, len(vs))
		}
	}
	if e := q.Get("endpoint"); e != "" || q.Has("endpoint") {
		eu, err := url.Parse(e)
		if err != nil || (eu.Scheme != "http" && eu.Scheme != "https") || eu.Host == "" || eu.User != nil || eu.RawQuery != "" || eu.Fragment != "" {
			return Config{}, fmt.Errorf("%q: endpoint %q is not an http(s) base URL such as http://127.0.0.1:7070 or https://s3.example.com", raw, e)
		}
		c.Endpoint = strings.TrimSuffix(e, "/")
	}
	if q.Has("region") {
		r := q.Get("region")
		if r == "" || strings.ContainsAny(r, " /?#") {
			return Config{}, fmt.Errorf("%q: region %q is not a region name such as us-east-1", raw, r)
		}
		c.Region = r
	}
	if q.Has("path-style") {
		b, err := strconv.ParseBool(q.Get("path-style"))
		if err != nil {
			return Config{}, fmt.Errorf("%q: path-style %q: expected true or false", raw, q.Get("path-style"))
		}
		c.PathStyle = b
	}
	return c, nil
}

func knownParams() string {
	var ks []string
	for k, v := range urlParams {
		ks = append(ks, k+" ("+v+")")
	}
	sort.Strings(ks)
	return strings.Join(ks, "; ")
}

func redact(u *url.URL) string {
	c := *u
	c.User = nil
	return c.String()
}

// FromEnv fills in what c leaves empty from the usual AWS environment variables:
// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN (only when c has no access
// key id of its own), and the region from AWS_REGION or AWS_DEFAULT_REGION, else us-east-1.
func (c Config) FromEnv(getenv func(string) (string, bool)) Config {
	get := func(k string) string { v, _ := getenv(k); return v }
	if c.AccessKeyID == "" {
		c.AccessKeyID = get("AWS_ACCESS_KEY_ID")
		c.SecretAccessKey = get("AWS_SECRET_ACCESS_KEY")
		c.SessionToken = get("AWS_SESSION_TOKEN")
	}
	if c.Region == "" {
		c.Region = get("AWS_REGION")
	}
	if c.Region == "" {
		c.Region = get("AWS_DEFAULT_REGION")
	}
	if c.Region == "" {
		c.Region = "us-east-1"
	}
	return c
}

// Environ is FromEnv's usual source, the process environment.
func Environ(k string) (string, bool) { return os.LookupEnv(k) }

// ErrNoCredentials means neither the configuration nor the environment gives credentials.
var ErrNoCredentials = errors.New("no S3 credentials")

// check reports what makes c unusable.
func (c Config) check() error {
	switch {
	case c.Bucket == "":
		return errors.New("no bucket")
	case c.AccessKeyID == "" || c.SecretAccessKey == "":
		return fmt.Errorf("%w for %s: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary credentials), or storage-access-key-id and storage-secret-access-key in the config file", ErrNoCredentials, c)
	}
	return nil
}

// String names the store for messages and logs: its URL without credentials.
func (c Config) String() string {
	s := "s3://" + c.Bucket
	if c.Prefix != "" {
		s += "/" + c.Prefix
	}
	var q []string
	if c.Endpoint != "" {
		q = append(q, "endpoint="+c.Endpoint)
	}
	if c.Region != "" {
		q = append(q, "region="+c.Region)
	}
	if c.PathStyle {
		q = append(q, "path-style=true")
	}
	if len(q) > 0 {
		s += "?" + strings.Join(q, "&")
	}
	return s
}
