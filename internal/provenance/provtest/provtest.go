// Package provtest makes broken provenance files, for the tests of code that must refuse them:
// a server keeps a .prov for good, so one that does not hold a real signature must not get in.
package provtest

import (
	"bytes"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp/armor"
)

const (
	beginSignature = "-----BEGIN PGP SIGNATURE-----"
	endSignature   = "-----END PGP SIGNATURE-----"
)

// ZeroSignature returns prov with its armored signature block replaced by the armor of 40
// zero bytes: the signed text is intact, the "signature" is garbage.
func ZeroSignature(t testing.TB, prov []byte) []byte {
	t.Helper()
	i := bytes.Index(prov, []byte(beginSignature))
	if i < 0 {
		t.Fatalf("provtest: no %s in the .prov", beginSignature)
	}
	out := bytes.NewBuffer(append([]byte{}, prov[:i]...))
	w, err := armor.Encode(out, "PGP SIGNATURE", nil)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(make([]byte, 40))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	out.WriteByte('\n')
	return out.Bytes()
}

// TruncatedArmor returns prov with the base64 text of its signature block cut to its first
// half (whole base64 quanta, so that it still decodes), the END line kept: the armor is
// well-formed, the signature packet in it incomplete.
func TruncatedArmor(t testing.TB, prov []byte) []byte {
	t.Helper()
	s := string(prov)
	i := strings.Index(s, beginSignature)
	j := strings.Index(s, endSignature)
	if i < 0 || j < i {
		t.Fatalf("provtest: no armored signature block in the .prov")
	}
	block := s[i:j]
	blank := strings.Index(block, "\n\n")
	if blank < 0 {
		t.Fatalf("provtest: the signature block has no blank line before its base64 text")
	}
	var b64 strings.Builder
	for _, line := range strings.Split(block[blank+2:], "\n") {
		if line == "" || strings.HasPrefix(line, "=") { // the optional CRC line
			continue
		}
		b64.WriteString(line)
	}
	half := b64.String()[:b64.Len()/2/4*4]
	var out strings.Builder
	out.WriteString(s[:i] + block[:blank+2])
	for len(half) > 64 {
		out.WriteString(half[:64] + "\n")
		half = half[64:]
	}
	out.WriteString(half + "\n" + s[j:])
	return []byte(out.String())
}
