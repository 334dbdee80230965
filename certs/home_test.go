package certs

import (
	"errors"
	"path/filepath"
	"runtime"
	"testing"
)

func TestHome(t *testing.T) {
	// The variable that names the user's home directory.
	homeVar := map[string]string{"windows": "USERPROFILE", "plan9": "home"}[runtime.GOOS]
	if homeVar == "" {
		homeVar = "HOME"
	}
	abs := func(elem ...string) string {
		return filepath.Join(append([]string{filepath.FromSlash("/x")}, elem...)...)
	}
	if runtime.GOOS == "windows" {
		abs = func(elem ...string) string { return filepath.Join(append([]string{`C:\x`}, elem...)...) }
	}
	tests := []struct {
		name    string
		env     map[string]string
		want    string
		wantErr bool
	}{
		{
			name: "QXFER_HOME wins",
			env:  map[string]string{"QXFER_HOME": abs("q"), "XDG_CONFIG_HOME": abs("xdg"), homeVar: abs("home")},
			want: abs("q"),
		},
		{
			name: "relative QXFER_HOME kept",
			env:  map[string]string{"QXFER_HOME": "rel", homeVar: abs("home")},
			want: "rel",
		},
		{
			name: "XDG_CONFIG_HOME next",
			env:  map[string]string{"XDG_CONFIG_HOME": abs("xdg"), homeVar: abs("home")},
			want: abs("xdg", "qxfer"),
		},
		{
			name: "relative XDG_CONFIG_HOME ignored",
			env:  map[string]string{"XDG_CONFIG_HOME": "xdg", homeVar: abs("home")},
			want: abs("home", ".config", "qxfer"),
		},
		{
			name: "home fallback",
			env:  map[string]string{homeVar: abs("home")},
			want: abs("home", ".config", "qxfer"),
		},
		{
			name: "empty values are unset",
			env:  map[string]string{"QXFER_HOME": "", "XDG_CONFIG_HOME": "", homeVar: abs("home")},
			want: abs("home", ".config", "qxfer"),
		},
		{
			name:    "nothing set",
			env:     map[string]string{},
			wantErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Home(func(k string) string { return tt.env[k] })
			if tt.wantErr {
				if !errors.Is(err, errNoHome) {
					t.Fatalf("got %q, %v, want error %v", got, err, errNoHome)
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v, want nil", err)
			}
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
