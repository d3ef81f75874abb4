package httpx

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// ContentTypeJSON is the Content-Type of chartroom's JSON answers.
const ContentTypeJSON = "application/json"

// WriteError answers {"error": msg} with status: the error body of every non-OCI endpoint.
// msg says what went wrong and what to do.
func WriteError(w http.ResponseWriter, status int, msg string) {
	WriteJSON(w, status, ContentTypeJSON, map[string]string{"error": msg})
}

// WriteJSON answers v as JSON (one line) with status, contentType and a Content-Length.
func WriteJSON(w http.ResponseWriter, status int, contentType string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "internal server error", http.StatusInternalServerError)
		return
	}
	WriteBody(w, status, contentType, append(b, '\n'))
}

// WriteBody answers body, already encoded, with status, contentType and a Content-Length.
func WriteBody(w http.ResponseWriter, status int, contentType string, body []byte) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
