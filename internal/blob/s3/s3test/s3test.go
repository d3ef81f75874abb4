// Package s3test runs a real S3-compatible server for tests: versitygw (pinned in
// scripts/tools.sh) with its posix backend in a temporary directory, on a loopback port,
// stopped when the test ends.
//
// The binary is $CHARTROOM_VERSITYGW, else the one `make tools` listed in bin/tools.env of
// the module. Without it a test is skipped, or fails when $CI is set (as in CI, where every
// tool must be there).
package s3test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	blobs3 "github.com/chartroom/chartroom/internal/blob/s3"
)

// Server is a running versitygw.
type Server struct {
	// Endpoint is its base URL, http://127.0.0.1:<port>.
	Endpoint string
	// AccessKey and SecretKey are its root credentials.
	AccessKey, SecretKey string
	// Root is the directory of its posix backend: one directory per bucket.
	Root string

	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

// EnvVar names the variable that holds the versitygw binary's path.
const EnvVar = "CHARTROOM_VERSITYGW"

// Binary returns the versitygw binary, or skips t (fails it in CI) when there is none.
func Binary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv(EnvVar); p != "" {
		if _, err := os.Stat(p); err == nil {
			return p
		}
		missing(t, fmt.Sprintf("%s=%s: not found", EnvVar, p))
	}
	if p := fromToolsEnv(); p != "" {
		return p
	}
	missing(t, EnvVar+" is not set and bin/tools.env names no versitygw (make tools, or scripts/tools.sh versitygw)")
	return ""
}

func missing(t testing.TB, msg string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("%s (CI is set, so a missing tool is a failure)", msg)
	}
	t.Skip(msg)
}

// fromToolsEnv reads bin/tools.env of the module the test runs in.
func fromToolsEnv() string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
	data, err := os.ReadFile(filepath.Join(dir, "bin", "tools.env"))
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(data), "\n") {
		if p, ok := strings.CutPrefix(line, EnvVar+"="); ok {
			if _, err := os.Stat(p); err == nil {
				return p
			}
		}
	}
	return ""
}

// Start starts a versitygw for the test and stops it when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := Binary(t)
	root := t.TempDir()
	s := &Server{AccessKey: "chartroom-test", SecretKey: randomHex(16), Root: filepath.Join(root, "data"),
		log: filepath.Join(root, "versitygw.log")}
	if err := os.Mkdir(s.Root, 0o755); err != nil {
		t.Fatal(err)
	}
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		if err = s.start(bin); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("start versitygw: %v\n%s", err, s.logTail())
	}
	t.Cleanup(func() {
		s.stop()
		if t.Failed() {
			t.Logf("versitygw log (%s):\n%s", s.log, s.logTail())
		}
	})
	return s
}

// start runs the server on a free loopback port and waits until it answers.
func (s *Server) start(bin string) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	addr := ln.Addr().String()
	ln.Close()
	logf, err := os.OpenFile(s.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(bin, "--access", s.AccessKey, "--secret", s.SecretKey, "--port", addr,
		"--keep-alive", "--quiet", "posix", s.Root)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group, so that stopping it stops everything it started.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	s.cmd, s.done, s.Endpoint = cmd, done, "http://"+addr
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-done:
			return fmt.Errorf("versitygw exited at start (port %s taken?)", addr)
		default:
		}
		// A request signed with this server's own secret: another process that took the
		// port meanwhile would refuse it.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := s.Client().ListBuckets(ctx, &s3.ListBucketsInput{})
		cancel()
		if err == nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.stop()
	return fmt.Errorf("versitygw did not answer on %s within 30s", addr)
}

// Stop stops the server now (it is stopped when the test ends anyway).
func (s *Server) Stop() { s.stop() }

func (s *Server) stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	select {
	case <-s.done:
		return // stopped already
	default:
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.done
	}
}

func (s *Server) logTail() string {
	b, _ := os.ReadFile(s.log)
	if len(b) > 8000 {
		b = b[len(b)-8000:]
	}
	return string(b)
}

// Client is an S3 client with the server's root credentials.
func (s *Server) Client() *s3.Client {
	return s3.New(s3.Options{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, ""),
		BaseEndpoint: aws.String(s.Endpoint),
		UsePathStyle: true,
	})
}

var bucketSeq struct {
	sync.Mutex
	n int
}

// NewBucket creates an empty bucket and returns its name.
func (s *Server) NewBucket(t testing.TB) string {
	t.Helper()
	bucketSeq.Lock()
	bucketSeq.n++
	name := fmt.Sprintf("test-%d-%s", bucketSeq.n, randomHex(4))
	bucketSeq.Unlock()
	if _, err := s.Client().CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: &name}); err != nil {
		t.Fatalf("create bucket %s: %v\n%s", name, err, s.logTail())
	}
	return name
}

// Config is the store configuration of bucket and prefix on this server.
func (s *Server) Config(bucket, prefix string) blobs3.Config {
	return blobs3.Config{Bucket: bucket, Prefix: prefix, Endpoint: s.Endpoint, Region: "us-east-1",
		PathStyle: true, AccessKeyID: s.AccessKey, SecretAccessKey: s.SecretKey}
}

// URL is the storage URL (chartroom serve --storage) of bucket and prefix on this server.
func (s *Server) URL(bucket, prefix string) string {
	u := "s3://" + bucket
	if prefix != "" {
		u += "/" + prefix
	}
	return u + "?endpoint=" + s.Endpoint + "&region=us-east-1&path-style=true"
}

// Env is the environment (KEY=VALUE) that gives a process the server's credentials.
func (s *Server) Env() []string {
	return []string{"AWS_ACCESS_KEY_ID=" + s.AccessKey, "AWS_SECRET_ACCESS_KEY=" + s.SecretKey, "AWS_REGION=us-east-1"}
}

// Store opens a store on bucket and prefix with opts.
func (s *Server) Store(t testing.TB, bucket, prefix string, opts blobs3.Options) *blobs3.Store {
	t.Helper()
	st, err := blobs3.New(s.Config(bucket, prefix), opts)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// Objects lists the keys under prefix in bucket.
func (s *Server) Objects(t testing.TB, bucket, prefix string) []string {
	t.Helper()
	var out []string
	p := s3.NewListObjectsV2Paginator(s.Client(), &s3.ListObjectsV2Input{Bucket: &bucket, Prefix: &prefix})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Contents {
			out = append(out, aws.ToString(o.Key))
		}
	}
	return out
}

// MultipartUploads lists the keys of the multipart uploads in progress in bucket.
func (s *Server) MultipartUploads(t testing.TB, bucket string) []string {
	t.Helper()
	out, err := s.Client().ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: &bucket})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, u := range out.Uploads {
		keys = append(keys, aws.ToString(u.Key))
	}
	return keys
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
