package provenance

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestSignerFromKeyring(t *testing.T) {
	jane := newEntity(t, "Jane Doe", "jane@example.com")
	jack := newEntity(t, "Jack Doe", "jack@example.com")
	ring := load(t, keyring(t, true, false, nil, jane, jack))
	janeID := fmt.Sprintf("%X", jane.PrimaryKey.Fingerprint)
	tests := []struct {
		name, key string
		want      string // identity of the chosen key
		is        error
	}{
		{"exact identity", "Jane Doe <jane@example.com>", "Jane Doe <jane@example.com>", nil},
		{"email", "jane@example.com", "Jane Doe <jane@example.com>", nil},
		{"name substring", "Jack", "Jack Doe <jack@example.com>", nil},
		{"fingerprint", janeID, "Jane Doe <jane@example.com>", nil},
		{"long key ID with 0x", "0x" + janeID[len(janeID)-16:], "Jane Doe <jane@example.com>", nil},
		{"ambiguous", "Doe", "", ErrAmbiguousKey},
		{"not found", "nobody", "", ErrKeyNotFound},
		{"empty name, two keys", "", "", ErrAmbiguousKey},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, err := SignerFromKeyring(ring, tc.key, nil)
			if tc.is != nil {
				if !errors.Is(err, tc.is) {
					t.Errorf("err = %v, want %v", err, tc.is)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := entityName(e); got != tc.want {
				t.Errorf("chose %q, want %q", got, tc.want)
			}
		})
	}

	t.Run("only secret key", func(t *testing.T) {
		ring := load(t, append(keyring(t, false, false, nil, jack), keyring(t, true, false, nil, jane)...))
		e, err := SignerFromKeyring(ring, "", nil)
		if err != nil || entityName(e) != "Jane Doe <jane@example.com>" {
			t.Errorf("got %v, %v", e, err)
		}
	})
	t.Run("public only", func(t *testing.T) {
		ring := load(t, keyring(t, false, true, nil, jane))
		if _, err := SignerFromKeyring(ring, "jane", nil); !errors.Is(err, ErrNoPrivateKey) {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("passphrase", func(t *testing.T) {
		sec := keyring(t, true, true, []byte("right"), newEntity(t, "Locked", "locked@example.com"))
		if _, err := SignerFromKeyring(load(t, sec), "Locked", nil); !errors.Is(err, ErrPassphraseRequired) {
			t.Errorf("no passphrase: %v", err)
		}
		if _, err := SignerFromKeyring(load(t, sec), "Locked", []byte("wrong")); !errors.Is(err, ErrWrongPassphrase) {
			t.Errorf("wrong passphrase: %v", err)
		}
		e, err := SignerFromKeyring(load(t, sec), "Locked", []byte("right"))
		if err != nil || e.PrivateKey.Encrypted {
			t.Errorf("right passphrase: %v", err)
		}
	})
}

func TestLoadKeyringErrors(t *testing.T) {
	for _, tc := range []struct{ name, data string }{
		{"empty", ""},
		{"garbage", "not a key"},
		{"armored message, not a key", "-----BEGIN PGP MESSAGE-----\n\nwcBMA\n=abcd\n-----END PGP MESSAGE-----\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := LoadKeyring(strings.NewReader(tc.data)); err == nil {
				t.Error("no error")
			}
		})
	}
	a := newEntity(t, "A", "a@example.com")
	b := newEntity(t, "B", "b@example.com")
	two := append(keyring(t, false, true, nil, a), keyring(t, true, true, nil, b)...)
	if el := load(t, two); len(el) != 2 {
		t.Errorf("concatenated armored blocks: %d keys", len(el))
	}
}

// TestGPGInterop signs with a key made and exported by GnuPG (the way
// Helm's docs tell users to export a legacy secret keyring) and checks
// the .prov with gpg itself.
func TestGPGInterop(t *testing.T) {
	gpg, err := exec.LookPath("gpg")
	if err != nil {
		t.Skip("gpg not installed")
	}
	home := t.TempDir()
	run := func(stdin string, args ...string) []byte {
		t.Helper()
		cmd := exec.Command(gpg, append([]string{"--homedir", home, "--batch", "--pinentry-mode", "loopback"}, args...)...)
		cmd.Stdin = strings.NewReader(stdin)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("gpg %v: %v\n%s", args, err, stderr.String())
		}
		return out
	}
	run("", "--passphrase", "pw", "--quick-gen-key", "GPG Signer <gpg@example.com>", "rsa2048", "sign", "never")
	secBinary := run("", "--passphrase", "pw", "--export-secret-keys")
	pubArmored := run("", "--armor", "--export")

	archive, name := testArchive(t)
	signer, err := SignerFromKeyring(load(t, secBinary), "gpg@example.com", []byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	prov, err := Sign(bytes.NewReader(archive), name, signer)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(bytes.NewReader(archive), name, prov, load(t, pubArmored)); err != nil {
		t.Errorf("Verify with gpg's armored public key: %v", err)
	}
	provFile := filepath.Join(t.TempDir(), name+".prov")
	os.WriteFile(provFile, prov, 0o644)
	run("", "--verify", provFile) // fails the test if gpg rejects the signature

	if _, err := SignerFromKeyring(load(t, secBinary), "gpg@example.com", []byte("nope")); !errors.Is(err, ErrWrongPassphrase) {
		t.Errorf("wrong passphrase: %v", err)
	}
}
