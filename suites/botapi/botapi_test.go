package botapi

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestSend(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/chats/{id}/messages", func(w http.ResponseWriter, r *http.Request) {
		switch r.PathValue("id") {
		case "ok":
			_, _ = w.Write([]byte(`{"reply":"hi","prompt_source":"cached","degraded":true,"attempts":3,"code":"P1001"}`))
		case "bad":
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"error":"text is empty","field":"text"}`))
		case "html":
			w.WriteHeader(http.StatusBadGateway)
			_, _ = w.Write([]byte(`<html>bad gateway</html>`))
		case "garbled":
			_, _ = w.Write([]byte(`not json`))
		}
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()

	c := New(srv.URL+"/", nil)
	r, err := c.Send(context.Background(), "ok", "hello")
	if err != nil || r != (Reply{Reply: "hi", PromptSource: "cached", Degraded: true, Attempts: 3, Code: "P1001"}) {
		t.Fatalf("Send(ok) = %+v, %v", r, err)
	}

	tests := []struct {
		name, chat string
		client     *Client
		status     int
		notSent    bool
	}{
		{"JSON error body", "bad", c, http.StatusBadRequest, false},
		{"non-JSON error body", "html", c, http.StatusBadGateway, false},
		{"garbled 200", "garbled", c, 0, false},
		{"nothing listening", "ok", New(closed.URL, nil), 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.client.Send(context.Background(), tt.chat, "hello")
			if err == nil {
				t.Fatal("no error")
			}
			var se *StatusError
			if got := errors.As(err, &se); got != (tt.status != 0) || (got && se.Status != tt.status) {
				t.Errorf("error %v: want status %d", err, tt.status)
			}
			if got := errors.Is(err, ErrNotSent); got != tt.notSent {
				t.Errorf("error %v: ErrNotSent = %v, want %v", err, got, tt.notSent)
			}
		})
	}
}

func TestReadiness(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"status":"ready","db":{"state":"up","migrated":true,"breaker":"closed"}}`))
	}))
	defer srv.Close()
	r, err := New(srv.URL, nil).Readiness(context.Background())
	if err != nil || !r.Ready() || r.DB.Breaker != "closed" {
		t.Fatalf("Readiness() = %+v, %v", r, err)
	}
	r.DB.Migrated = false
	if r.Ready() {
		t.Error("a database not migrated yet reads as ready")
	}
}
