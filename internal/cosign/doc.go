// Package cosign reads and writes the signatures sigstore's cosign makes for OCI artifacts,
// with cosign's key files, in the standard library's crypto, without a network and without
// sigstore's libraries. It knows nothing of HTTP: internal/client moves its bytes.
//
// What it reads and writes, as cosign v2.6 does:
//
//   - Keys ([GenerateKey], [EncryptPrivateKey], [DecryptPrivateKey], [ParsePublicKey]): the
//     ECDSA P-256 key pairs `cosign generate-key-pair` writes, a PEM "ENCRYPTED SIGSTORE
//     PRIVATE KEY" (a JSON envelope: scrypt key derivation, NaCl secretbox over the PKCS #8
//     key, as github.com/secure-systems-lab/go-securesystemslib/encrypted) and a PKIX
//     "PUBLIC KEY" PEM. cosign's older "ENCRYPTED COSIGN PRIVATE KEY" is read too.
//   - The signature tag ([SignatureTag], [SignLayer], [VerifyLayer], [SignatureManifest]):
//     the manifest tagged sha256-<hex>.sig beside the signed one, one layer per signature, each
//     a simple-signing payload (media type [SimpleSigningMediaType]) naming the signed
//     manifest's digest, with the base64 signature in the [SignatureAnnotation] annotation.
//     This is `cosign sign`'s default form in v2, what Flux falls back to and what every
//     cosign reads. The same layers pushed as an OCI referrer of artifact type
//     [ExperimentalSigArtifactType] (`cosign sign --registry-referrers-mode=oci-1-1`) are read
//     by [VerifyLayer] too.
//   - Sigstore bundles ([NewBundle], [VerifyBundle], [BundleManifest]): a bundle v0.3
//     (media type [BundleMediaType]) holding a DSSE envelope of an in-toto statement whose
//     subject is the signed manifest's digest and whose predicate type is
//     [SignPredicateType], pushed as an OCI referrer of the signed manifest. This is
//     `cosign sign --new-bundle-format` (cosign 3's default), and what Flux and `cosign
//     verify` look for first.
//
// # Signers, verifiers and keyless signing
//
// A [Signer] makes signatures and says, in each [Signature]'s [Material], what a verifier
// needs to know who made it; a [Verifier] decides whether a signature is trusted and names
// its signer. [KeySigner] and [KeyVerifier] are the key-based ones (`cosign sign --key`,
// `cosign verify --key`).
//
// Keyless signing (cosign's default without --key) signs with an ephemeral key certified by
// Fulcio for an OIDC identity and records the signature in the Rekor transparency log. It
// needs those services, which chartroom does not reach, and is not implemented. It would plug
// in here: a Signer whose Material carries the Fulcio certificate ([Material.Certificate],
// which both forms already write and read) and the Rekor entry, and a Verifier that checks the
// certificate chain against Fulcio's roots, the identity against a policy, and the log entry
// against Rekor's key. [KeyVerifier] refuses signatures that carry only a certificate
// ([ErrKeyless]); it ignores transparency-log entries, as `cosign verify
// --insecure-ignore-tlog` does.
package cosign
