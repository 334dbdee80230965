package session

import (
	"path"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/qxfer/qxfer/session/internal/xfer"
)

func TestCleanPath(t *testing.T) {
	long255 := strings.Repeat("n", maxNameLen)
	tests := []struct {
		name string
		in   string
		want string // "" means cleanPath must fail with CodeInvalidPath
	}{
		{"empty", "", "."},
		{"dot", ".", "."},
		{"dot slash", "./", "."},
		{"plain", "a", "a"},
		{"nested", "a/b/c", "a/b/c"},
		{"dot and double slash", "./a//b", "a/b"},
		{"inner dot", "a/./b/.", "a/b"},
		{"trailing slash", "a/b/", "a/b"},
		{"three dots is a name", "...", "..."},
		{"dots inside a name", "a..b/..c", "a..b/..c"},
		{"unicode", "中文/名字 é.txt", "中文/名字 é.txt"},
		{"longest name", long255, long255},
		{"dot dot", "..", ""},
		{"leading dot dot", "../x", ""},
		{"trailing dot dot", "a/..", ""},
		{"dot dot inside", "a/../b", ""},
		{"dot dot that escapes", "a/../../etc/passwd", ""},
		{"absolute", "/etc/passwd", ""},
		{"root", "/", ""},
		{"double leading slash", "//x", ""},
		{"NUL", "a\x00b", ""},
		{"trailing NUL", "a.txt\x00", ""},
		{"backslash", `a\b`, ""},
		{"backslash dot dot", `..\x`, ""},
		{"windows drive", `C:\x`, ""},
		{"invalid UTF-8", "a/\xff\xfe", ""},
		{"truncated UTF-8", "\xe4\xb8", ""},
		{"overlong encoding of slash", "\xc0\xaf..\xc0\xafx", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := cleanPath(tt.in)
			if tt.want == "" {
				if err == nil {
					t.Fatalf("cleanPath(%q): got %q, want an error", tt.in, got)
				}
				if c := codeOfErr(err); c != CodeInvalidPath {
					t.Fatalf("cleanPath(%q): got code %v (%v), want %v", tt.in, c, err, CodeInvalidPath)
				}
				return
			}
			if err != nil {
				t.Fatalf("cleanPath(%q): got error %v, want %q", tt.in, err, tt.want)
			}
			if got != tt.want {
				t.Fatalf("cleanPath(%q): got %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// TestCleanPathTooLong: an over-long path or name is refused as
// name_too_long, its real cause, not as an invalid path (issue 13, class
// 11).
func TestCleanPathTooLong(t *testing.T) {
	tests := []struct{ name, in string }{
		{"name", strings.Repeat("n", maxNameLen+1)},
		{"name deep", "a/" + strings.Repeat("n", maxNameLen+1) + "/b"},
		{"path", strings.Repeat("abcdefg/", maxPathLen/8) + "x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := cleanPath(tt.in)
			if c := codeOfErr(err); c != CodeNameTooLong {
				t.Fatalf("cleanPath: got %q, %v (code %v), want code %v", got, err, c, CodeNameTooLong)
			}
		})
	}
}

func TestPartName(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"top level", "a.txt", ".a.txt.qxfer.part"},
		{"nested", "d/e/a.txt", "d/e/.a.txt.qxfer.part"},
		{"unicode", "中文/名字.txt", "中文/.名字.txt.qxfer.part"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := xfer.PartName(tt.in); got != tt.want {
				t.Errorf("xfer.PartName(%q): got %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// FuzzCleanPath checks the invariants every path the server uses relies
// on: whatever the peer sends, an accepted path is relative, stays below
// the root, has no byte a file system treats specially, and is canonical.
func FuzzCleanPath(f *testing.F) {
	for _, s := range []string{"", ".", "a/b", "./a//b", "..", "a/../b", "/etc", "a\x00b", `a\b`, "\xff", "中文 名字.txt", "...", ".a/.b./c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := cleanPath(in)
		if err != nil {
			if c := codeOfErr(err); c != CodeInvalidPath && c != CodeNameTooLong {
				t.Fatalf("cleanPath(%q): got code %v, want %v or %v", in, c, CodeInvalidPath, CodeNameTooLong)
			}
			return
		}
		if got == "" {
			t.Fatalf("cleanPath(%q): got an empty path, want \".\" for the root", in)
		}
		if strings.HasPrefix(got, "/") {
			t.Fatalf("cleanPath(%q) = %q: starts with /", in, got)
		}
		if strings.ContainsAny(got, "\x00\\") {
			t.Fatalf("cleanPath(%q) = %q: contains NUL or backslash", in, got)
		}
		if !utf8.ValidString(got) {
			t.Fatalf("cleanPath(%q) = %q: invalid UTF-8", in, got)
		}
		if len(got) > maxPathLen {
			t.Fatalf("cleanPath(%q) = %q: %d bytes, want at most %d", in, got, len(got), maxPathLen)
		}
		for _, el := range strings.Split(got, "/") {
			switch {
			case el == "..":
				t.Fatalf("cleanPath(%q) = %q: has a .. element", in, got)
			case el == "" || (el == "." && got != "."):
				t.Fatalf("cleanPath(%q) = %q: has an empty or . element", in, got)
			case len(el) > maxNameLen:
				t.Fatalf("cleanPath(%q) = %q: name of %d bytes, want at most %d", in, got, len(el), maxNameLen)
			}
		}
		again, err := cleanPath(got)
		if err != nil {
			t.Fatalf("cleanPath(%q) = %q, which cleanPath refuses: %v", in, got, err)
		}
		if again != got {
			t.Fatalf("cleanPath(%q) = %q, cleanPath of that = %q, want it unchanged", in, got, again)
		}
	})
}

// TestCleanPathCleanNoAlloc: a path that is clean already, as every path a
// tree walk makes, is returned as it is, without allocating (issue 17).
func TestCleanPathCleanNoAlloc(t *testing.T) {
	const p = "drivers/gpu/drm/amd/display/dc/core/dc.c"
	if n := testing.AllocsPerRun(100, func() {
		if got, err := cleanPath(p); err != nil || got != p {
			t.Fatalf("cleanPath(%q) = %q, %v", p, got, err)
		}
	}); n != 0 {
		t.Errorf("cleanPath of a clean path: %v allocations, want 0", n)
	}
}

// TestSplitRemote: splitRemote agrees with path.Split then joinPath, which
// it replaces, and does not allocate on a clean path.
func TestSplitRemote(t *testing.T) {
	for _, p := range []string{"f", "a/f", "a/b/c.txt", "a//f", "./f", "a/./b/f", "", ".", "a/"} {
		dir, name := path.Split(p)
		dir = joinPath(dir)
		if gd, gn := splitRemote(p); gd != dir || gn != name {
			t.Errorf("splitRemote(%q) = %q, %q; want %q, %q", p, gd, gn, dir, name)
		}
	}
	if n := testing.AllocsPerRun(100, func() { splitRemote("a/b/c.txt") }); n != 0 {
		t.Errorf("splitRemote of a clean path: %v allocations, want 0", n)
	}
}
