package provenance

import (
	"io"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
)

func clearsignEncode(w io.Writer, e *openpgp.Entity) (io.WriteCloser, error) {
	return clearsign.Encode(w, e.PrivateKey, &pgpConfig)
}
