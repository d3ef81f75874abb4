// Package chart reads, validates and writes Helm chart archives the way
// Helm v3 does, with stricter safety rules at the door.
//
// It covers:
//
//   - Chart.yaml: [Metadata], [ParseMetadata], [Metadata.Validate];
//   - Helm's OCI format: media types, the tag of a version ([OCITag]), the
//     artifact `helm push` makes ([HelmArtifact], [ConfigJSON],
//     [OCIAnnotations]) and the archive's file name ([ArchiveName]);
//   - safe loading of untrusted archives ([LoadArchive]) with decompression
//     limits ([Limits]) and a typed error ([ErrInvalidArchive]), and the same
//     checks streaming, holding only what they need ([ValidateArchive]); both
//     read archives with one walker ([ArchiveWalker]), which the static indexer
//     uses too;
//   - loading chart directories honouring .helmignore ([LoadDir],
//     [IgnoreRules]);
//   - reproducible packaging ([Package], [PackageToDir], [WriteFileAtomic]);
//   - Chart.lock ([Lock], [ParseLock], [LockDigest], [CheckLock]);
//   - in-place edits of Chart.yaml that keep comments ([SetChartYAMLValue]);
//   - strict SemVer helpers ([ParseVersion]) and the one order of chart
//     versions ([VersionKey], [SortVersions]).
//
// Behaviour is modelled on Helm v3.22.0 (pkg/chart, pkg/chart/loader,
// pkg/chartutil, pkg/ignore, internal/resolver, pkg/registry). Where this
// package is deliberately stricter than Helm, the doc comment says so.
//
// The package imports only the standard library, Masterminds semver, YAML
// libraries, the OCI image-spec types and klauspost/compress (a faster gzip
// reader), so every part of chartroom can use it.
package chart
