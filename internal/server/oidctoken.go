package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/chartroom/chartroom/internal/server/auth"
	"github.com/chartroom/chartroom/internal/server/httpx"
)

// OIDCTokenPath is the endpoint where a CI job exchanges its OIDC ID token for a registry
// token (trusted publishing): POST {"token": "<ID token>"} answers {"token": "<registry
// token>", "expires_in": <seconds>}. The registry token may do what the rules of
// trusted-publishers give the job's identity, and is used as "Authorization: Bearer" or as
// the password of Basic credentials (helm repo add --password, helm registry login).
const OIDCTokenPath = "/api/oidc/token"

const routeOIDCToken = "oidc.token"

// maxOIDCTokenBody bounds the request body of the exchange.
const maxOIDCTokenBody = 64 << 10

type oidcTokenRequest struct {
	Token string `json:"token"`
}

type oidcTokenResponse struct {
	Token     string `json:"token"`
	ExpiresIn int    `json:"expires_in"`
}

// oidcToken serves OIDCTokenPath.
func (s *Server) oidcToken(w http.ResponseWriter, r *http.Request) {
	httpx.SetRoute(r, routeOIDCToken)
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		httpx.SetReason(r, "method_not_allowed")
		httpx.WriteError(w, http.StatusMethodNotAllowed, fmt.Sprintf("%s %s is not supported: POST {\"token\": \"<OIDC ID token>\"}", r.Method, r.URL.Path))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxOIDCTokenBody))
	var req oidcTokenRequest
	if err == nil {
		err = json.Unmarshal(body, &req)
	}
	if err != nil || req.Token == "" {
		httpx.SetReason(r, "bad_request")
		httpx.WriteError(w, http.StatusBadRequest, `the body must be JSON {"token": "<OIDC ID token>"} (at most 64 KiB), the ID token the CI platform issued for this server's audience`)
		return
	}
	t, p, err := s.auth.ExchangeOIDC(r, req.Token)
	if err != nil {
		outcome := auth.OutcomeOf(err)
		if outcome == "" {
			s.log.Error("oidc: issuing a registry token failed", "err", err)
			httpx.SetReason(r, "internal")
			httpx.WriteError(w, http.StatusInternalServerError, "internal server error: the registry token could not be issued; the server's log has the details")
			return
		}
		s.auth.Audit(auth.AuditRecord{Actor: auth.OIDCUser, Address: auth.Address(r), Action: routeOIDCToken, Outcome: outcome})
		httpx.SetReason(r, httpx.Reason(err))
		status := http.StatusUnauthorized
		s.auth.Challenge(w)
		if errors.Is(err, auth.ErrThrottled) {
			w.Header().Del("WWW-Authenticate")
			status = http.StatusTooManyRequests
			auth.SetRetryAfter(w, err)
		}
		httpx.WriteError(w, status, err.Error())
		return
	}
	httpx.SetUser(r, p.Name)
	s.auth.Audit(auth.AuditRecord{Actor: p.Name, Address: auth.Address(r), Action: routeOIDCToken, Outcome: auth.OutcomeOK,
		Detail: fmt.Sprintf("registry token for %s, valid %d s", p, t.ExpiresIn)})
	w.Header().Set("Cache-Control", "no-store")
	httpx.WriteJSON(w, http.StatusOK, httpx.ContentTypeJSON, oidcTokenResponse{Token: t.Token, ExpiresIn: t.ExpiresIn})
}
