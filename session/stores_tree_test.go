package session

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// TestTreeOps lists, stats and makes directories on each store, through
// a real client: a listing names each entry with its kind, size, mode and
// mtime; stat describes a file, a directory and the root; mkdir makes
// nested directories, accepts one that exists, and refuses one below or
// on a file; missing names are not_found, a file listed is itself.
func TestTreeOps(t *testing.T) {
	forEachStore(t, ServerConfig{}, func(t *testing.T, e *storeEnv) {
		c := e.ts.dial(t, "")
		ctx := testCtx(t)
		e.put(t, "top.txt", []byte("top"), 0o640, fileTime(1))
		e.put(t, "d/in.bin", []byte("inside"), 0o600, fileTime(2))
		e.mkdir(t, "d/empty")

		ents, err := c.List(ctx, ".")
		if err != nil {
			t.Fatalf("ls .: %v", err)
		}
		var got []string
		for _, en := range ents {
			got = append(got, fmt.Sprintf("%s dir=%v", en.Name, en.IsDir()))
		}
		slices.Sort(got)
		if want := []string{"d dir=true", "top.txt dir=false"}; !slices.Equal(got, want) {
			t.Errorf("ls .: got %q, want %q", got, want)
		}
		ents, err = c.List(ctx, "d")
		if err != nil {
			t.Fatalf("ls d: %v", err)
		}
		byName := map[string]Entry{}
		for _, en := range ents {
			byName[en.Name] = en
		}
		if len(ents) != 2 || !byName["empty"].IsDir() || byName["in.bin"].Kind != KindFile {
			t.Errorf("ls d: got %+v, want the directory empty and the file in.bin", ents)
		}
		if f := byName["in.bin"]; f.Size != 6 || f.Mode.Perm() != 0o600 || !f.MTime.Equal(fileTime(2)) {
			t.Errorf("ls d: in.bin: got size %d mode %v mtime %v, want 6, 0600, %v", f.Size, f.Mode.Perm(), f.MTime, fileTime(2))
		}
		if ents, err := c.List(ctx, "top.txt"); err != nil || len(ents) != 1 || ents[0].Name != "top.txt" || ents[0].Size != 3 {
			t.Errorf("ls top.txt: got %+v, %v, want the file itself", ents, err)
		}

		st, err := c.Stat(ctx, "top.txt")
		if err != nil || st.Kind != KindFile || st.Size != 3 || st.Mode.Perm() != 0o640 || !st.MTime.Equal(fileTime(1)) {
			t.Errorf("stat top.txt: got %+v, %v, want a file of 3 bytes, 0640, %v", st, err, fileTime(1))
		}
		for _, d := range []string{".", "d", "d/empty"} {
			if st, err := c.Stat(ctx, d); err != nil || !st.IsDir() {
				t.Errorf("stat %s: got %+v, %v, want a directory", d, st, err)
			}
		}

		for _, p := range []string{"nosuch", "d/nosuch", "nosuch/deeper"} {
			if _, err := c.Stat(ctx, p); codeOfErr(err) != CodeNotFound {
				t.Errorf("stat %s: got %v, want %v", p, err, CodeNotFound)
			}
			if _, err := c.List(ctx, p); codeOfErr(err) != CodeNotFound {
				t.Errorf("ls %s: got %v, want %v", p, err, CodeNotFound)
			}
		}

		for _, p := range []string{"new", "a/b/c", "d/empty"} {
			if err := c.Mkdir(ctx, p); err != nil {
				t.Errorf("mkdir %s: %v", p, err)
			}
			if st, err := c.Stat(ctx, p); err != nil || !st.IsDir() {
				t.Errorf("stat %s after mkdir: got %+v, %v, want a directory", p, st, err)
			}
		}
		for _, p := range []string{"top.txt", "top.txt/below"} {
			err := c.Mkdir(ctx, p)
			if code := codeOfErr(err); code != CodeNotDirectory && code != CodeExists {
				t.Errorf("mkdir %s: got %v, want %v or %v", p, err, CodeNotDirectory, CodeExists)
			}
		}
		e.sameFile(t, "top.txt", []byte("top"))
		if ents, err := c.List(ctx, "new"); err != nil || len(ents) != 0 {
			t.Errorf("ls new: got %+v, %v, want an empty directory", ents, err)
		}
		for _, n := range e.allNames(t) {
			if strings.Contains(n, ".qxfer") {
				t.Errorf("the store holds %s, want no state left", n)
			}
		}
	})
}
