package chart

import (
	"errors"
	"fmt"
)

// Default limits, Helm v3's (pkg/chart/loader: MaxDecompressedChartSize,
// MaxDecompressedFileSize) plus an entry count Helm does not have.
const (
	DefaultMaxTotalSize int64 = 100 << 20 // 100 MiB decompressed, all files together
	DefaultMaxFileSize  int64 = 5 << 20   // 5 MiB decompressed, one file
	DefaultMaxEntries         = 20000     // tar entries (files and directories)
)

// Limits bounds what loading a chart may consume. The zero value means the
// documented defaults; each field ≤ 0 takes its default.
//
// The total applies across nested subchart archives (charts/*.tgz): their
// decompressed content counts towards the parent's budget.
type Limits struct {
	// MaxTotalSize is the most decompressed bytes of all files together
	// (default [DefaultMaxTotalSize]).
	MaxTotalSize int64
	// MaxFileSize is the most decompressed bytes of one file
	// (default [DefaultMaxFileSize]).
	MaxFileSize int64
	// MaxEntries is the most tar entries or directory files
	// (default [DefaultMaxEntries]).
	MaxEntries int
}

func (l Limits) withDefaults() Limits {
	if l.MaxTotalSize <= 0 {
		l.MaxTotalSize = DefaultMaxTotalSize
	}
	if l.MaxFileSize <= 0 {
		l.MaxFileSize = DefaultMaxFileSize
	}
	if l.MaxEntries <= 0 {
		l.MaxEntries = DefaultMaxEntries
	}
	return l
}

// budget is the shared, decreasing allowance of one load.
type budget struct {
	lim       Limits
	remaining int64
	entries   int
}

func newBudget(l Limits) *budget {
	l = l.withDefaults()
	return &budget{lim: l, remaining: l.MaxTotalSize}
}

// ErrInvalidArchive is wrapped by every error that rejects a chart archive
// or chart directory's content ([*ArchiveError]).
var ErrInvalidArchive = errors.New("invalid chart archive")

// ArchiveError says why a chart archive (or directory) was refused.
// errors.Is matches [ErrInvalidArchive], and also the cause, e.g.
// [ErrInvalidMetadata] for a bad Chart.yaml.
type ArchiveError struct {
	// Entry is the offending path inside the archive ("" when not about one entry).
	Entry string
	// Problem says what is wrong and what to do.
	Problem string
	// Err is the underlying cause, if any.
	Err error
}

// Error renders "invalid chart archive: <entry>: <problem>: <cause>".
func (e *ArchiveError) Error() string {
	return ErrInvalidArchive.Error() + ": " + e.detail()
}

// detail renders the message without the common prefix, so that nested
// subchart errors read as one sentence.
func (e *ArchiveError) detail() string {
	var s string
	if e.Entry != "" {
		s = fmt.Sprintf("%q: ", e.Entry)
	}
	s += e.Problem
	if e.Err != nil {
		if e.Problem != "" {
			s += ": "
		}
		var inner *ArchiveError
		if errors.As(e.Err, &inner) && inner == e.Err {
			s += inner.detail()
		} else {
			s += e.Err.Error()
		}
	}
	return s
}

// Unwrap returns ErrInvalidArchive and the cause.
func (e *ArchiveError) Unwrap() []error {
	if e.Err == nil {
		return []error{ErrInvalidArchive}
	}
	return []error{ErrInvalidArchive, e.Err}
}

func archiveErr(entry, format string, args ...any) *ArchiveError {
	return &ArchiveError{Entry: entry, Problem: fmt.Sprintf(format, args...)}
}
