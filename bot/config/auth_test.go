package config

import (
	"net"
	"strings"
	"testing"
)

func TestAPITokenSettings(t *testing.T) {
	const good = "0123456789abcdef0123456789abcdef"
	tests := []struct {
		name      string
		env       map[string]string
		wantErr   string
		wantToken string
		wantAuth  string
	}{
		{name: "unset", env: map[string]string{}, wantAuth: AuthToken},
		{name: "token", env: map[string]string{"API_TOKEN": good}, wantToken: good, wantAuth: AuthToken},
		{name: "opt out", env: map[string]string{"API_AUTH": "NONE"}, wantAuth: AuthNone},
		{name: "opt out with a token", env: map[string]string{"API_AUTH": "none", "API_TOKEN": good}, wantErr: "API_AUTH=none and API_TOKEN are both set"},
		{name: "short", env: map[string]string{"API_TOKEN": "hunter2hunter2"}, wantErr: "API_TOKEN must be 16 to 4096"},
		{name: "space inside", env: map[string]string{"API_TOKEN": "hunter2 hunter2 hunter2"}, wantErr: "without spaces"},
		{name: "not ASCII", env: map[string]string{"API_TOKEN": "hunter2hunter2hunter2é"}, wantErr: "printable ASCII"},
		{name: "too long", env: map[string]string{"API_TOKEN": strings.Repeat("h", MaxAPITokenLen+1)}, wantErr: "API_TOKEN must be"},
		{name: "bad API_AUTH", env: map[string]string{"API_AUTH": "off"}, wantErr: `API_AUTH="off": want one of token, none`},
		{name: "bad METRICS_ADDR", env: map[string]string{"METRICS_ADDR": "9090"}, wantErr: `METRICS_ADDR="9090"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.env["DATABASE_URL"] = runbookURL
			c, err := Load(env(tt.env))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				if tok := tt.env["API_TOKEN"]; tok != "" && strings.Contains(err.Error(), tok) {
					t.Errorf("the error shows the token: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.APIToken != tt.wantToken || c.APIAuth != tt.wantAuth {
				t.Errorf("token %q auth %q, want %q %q", c.APIToken, c.APIAuth, tt.wantToken, tt.wantAuth)
			}
		})
	}
}

func TestCheckExposure(t *testing.T) {
	tcp := func(ip string) net.Addr { return &net.TCPAddr{IP: net.ParseIP(ip), Port: 8080} }
	tests := []struct {
		name    string
		cfg     Config
		addr    net.Addr
		refused bool
	}{
		{"every interface, no token", Config{HTTPAddr: ":8080", APIAuth: AuthToken}, tcp("::"), true},
		{"0.0.0.0, no token", Config{HTTPAddr: "0.0.0.0:8080", APIAuth: AuthToken}, tcp("0.0.0.0"), true},
		{"a LAN address, no token", Config{HTTPAddr: "192.168.1.5:8080", APIAuth: AuthToken}, tcp("192.168.1.5"), true},
		{"every interface, token", Config{HTTPAddr: ":8080", APIAuth: AuthToken, APIToken: "0123456789abcdef"}, tcp("::"), false},
		{"every interface, API_AUTH=none", Config{HTTPAddr: ":8080", APIAuth: AuthNone}, tcp("::"), false},
		{"127.0.0.1, no token", Config{HTTPAddr: "127.0.0.1:8080", APIAuth: AuthToken}, tcp("127.0.0.1"), false},
		{"::1, no token", Config{HTTPAddr: "[::1]:8080", APIAuth: AuthToken}, tcp("::1"), false},
		{"127.0.0.2, no token", Config{HTTPAddr: "127.0.0.2:8080", APIAuth: AuthToken}, tcp("127.0.0.2"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.CheckExposure(tt.addr)
			if (err != nil) != tt.refused {
				t.Fatalf("CheckExposure = %v, want refused %v", err, tt.refused)
			}
			if err != nil {
				for _, want := range []string{"API_TOKEN", "HTTP_ADDR=127.0.0.1:8080", "API_AUTH=none", tt.cfg.HTTPAddr} {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("the refusal does not say %q: %v", want, err)
					}
				}
			}
		})
	}
}
