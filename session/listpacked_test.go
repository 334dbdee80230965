package session

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/qxfer/qxfer/internal/testutil"
	"github.com/qxfer/qxfer/session/internal/wire"
)

// TestListPacked: a client lists through ListPacked when the server has
// the feature, and through List when the server predates it (it skips
// Features and ListPacked as unknown frames); both give every entry as
// the directory holds it (names sharing prefixes or not, modes, sizes,
// mtimes, kinds), over several frames for a big directory; a pull of
// the tree and a no-op push over either arrive the same.
func TestListPacked(t *testing.T) {
	for _, old := range []bool{false, true} {
		t.Run(fmt.Sprintf("predates=%v", old), func(t *testing.T) {
			ts, c := startWithClient(t)
			ts.srv.predatesFeatures.Store(old)
			ctx := longCtx(t)
			dir := filepath.Join(ts.root, "d")
			base := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
			const n = 700 // names of about 200 bytes: several frames (MaxFrameSize)
			for i := range n {
				name := fmt.Sprintf("%s_%04d_%s", strings.Repeat("p", 150), i, strings.Repeat("x", i%40))
				p := filepath.Join(dir, name)
				testutil.WriteRandom(t, p, i%7)
				if i%3 == 0 {
					os.Chmod(p, 0o600)
				}
				mt := base
				if i%5 == 0 {
					mt = base.Add(time.Duration(i) * time.Nanosecond)
				}
				if err := os.Chtimes(p, mt, mt); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.Mkdir(filepath.Join(dir, "sub"), 0o750); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink("nowhere", filepath.Join(dir, "dangling")); err != nil {
				t.Fatal(err)
			}
			got, err := c.List(ctx, "d")
			if err != nil {
				t.Fatal(err)
			}
			if packed, _ := c.has(ctx, wire.FeatureListPacked); packed == old {
				t.Errorf("packed listing used: %v, want %v", packed, !old)
			}
			des, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(des) {
				t.Fatalf("listed %d entries, want %d", len(got), len(des))
			}
			slices.SortFunc(got, func(a, b Entry) int { return strings.Compare(a.Name, b.Name) })
			for i, de := range des {
				fi, err := de.Info()
				if err != nil {
					t.Fatal(err)
				}
				e := got[i]
				want := Entry{Name: de.Name(), Kind: KindFile, Size: fi.Size(), Mode: fi.Mode().Perm(), MTime: fi.ModTime()}
				switch {
				case fi.IsDir():
					want.Kind, want.Size = KindDir, e.Size
				case fi.Mode()&os.ModeSymlink != 0:
					want.Kind, want.Size = KindSymlink, 0
				}
				if e.Name != want.Name || e.Kind != want.Kind || e.Size != want.Size || e.Mode != want.Mode || !e.MTime.Equal(want.MTime) {
					t.Errorf("entry %d: got %+v, want %+v", i, e, want)
				}
			}
			os.Remove(filepath.Join(dir, "dangling"))
			local := t.TempDir()
			rep, err := c.Pull(ctx, []string{"d"}, local, Options{Recursive: true})
			checkReport(t, "pull", rep, err, n, Done)
			rep, err = c.Push(ctx, []string{filepath.Join(local, "d")}, ".", Options{Recursive: true})
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range rep.Files {
				if !isUpToDate(f) {
					t.Errorf("no-op push: %s: %s (%v), want up to date", f.Path, f.State, f.Err)
				}
			}
		})
	}
}
