package charttest

import (
	"bytes"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/chartroom/chartroom/internal/provenance"
)

// Signer is a throwaway OpenPGP key that signs charts as `helm package --sign` does.
type Signer struct {
	Entity *openpgp.Entity
}

// NewSigner makes a key (an RSA key: make one per test, not per case).
func NewSigner(t testing.TB, name string) *Signer {
	t.Helper()
	e, err := openpgp.NewEntity(name, "", "signer@example.com", nil)
	if err != nil {
		t.Fatal(err)
	}
	return &Signer{Entity: e}
}

// Sign returns the .prov of archive under file name fileName (<name>-<version>.tgz for the
// real one).
func (s *Signer) Sign(t testing.TB, archive []byte, fileName string) []byte {
	t.Helper()
	prov, err := provenance.Sign(bytes.NewReader(archive), fileName, s.Entity)
	if err != nil {
		t.Fatal(err)
	}
	return prov
}
