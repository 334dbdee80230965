package xfer

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/qxfer/qxfer/internal/testutil"
	"github.com/qxfer/qxfer/session/internal/wire"
)

// TestSpaceReservations: files admitted and not yet on disk count, so
// two admissions whose sum overflows the file system give one refusal
// even before either .part exists; a preallocated .part stops counting
// (Landed); a resumed .part needs only what it lacks; MinFree is kept.
func TestSpaceReservations(t *testing.T) {
	dir := testutil.MountTmpfs(t, "size=8m")
	root := testutil.OpenRoot(t, dir)
	free, err := FreeSpace(root)
	if err != nil || free != 8<<20 {
		t.Fatalf("FreeSpace of an empty 8 MiB tmpfs: got %d, %v; want %d", free, err, 8<<20)
	}
	s := NewSpace(1<<20, "the test disk")
	r1, err := s.Admit(root, "a", 4<<20)
	if err != nil {
		t.Fatalf("admit 4 MiB of 8 (1 spare): %v", err)
	}
	_, err = s.Admit(root, "b", 4<<20)
	var e *Error
	if !errors.As(err, &e) || e.Code != wire.NoSpace || e.Path != "b" {
		t.Fatalf("admit 4 more MiB: got %v, want no_space for b", err)
	}
	if got := s.Reserved(); got != 4<<20 {
		t.Errorf("Reserved: got %d, want %d", got, 4<<20)
	}
	// The .part of a is preallocated: statfs shows it, the reservation
	// no longer counts it.
	f, err := root.OpenFile(PartName("a"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := preallocate(f, 4<<20, true); err != nil {
		t.Fatal(err)
	}
	f.Close()
	r1.Landed()
	if got := s.Reserved(); got != 0 {
		t.Errorf("Reserved after Landed: got %d, want 0", got)
	}
	// 4 MiB free, 1 spare: 3 fit, 3.5 do not.
	if _, err := s.Admit(root, "c", 7<<19); err == nil {
		t.Error("admit 3.5 MiB into 4 with 1 spare: got nil, want no_space")
	}
	r3, err := s.Admit(root, "c", 3<<20)
	if err != nil {
		t.Fatalf("admit 3 MiB: %v", err)
	}
	r3.Release()
	r3.Release() // twice is harmless
	// Resuming a (its 4 MiB .part is there) at 6 MiB needs 2 more.
	r4, err := s.Admit(root, "a", 6<<20)
	if err != nil {
		t.Fatalf("admit a resumed to 6 MiB: %v", err)
	}
	if got := s.Reserved(); got != 2<<20 {
		t.Errorf("Reserved for the resumed a: got %d, want %d", got, 2<<20)
	}
	r4.Release()
	r1.Release()
	if got := s.Reserved(); got != 0 {
		t.Errorf("Reserved at the end: got %d, want 0", got)
	}
	if _, err := os.Stat(filepath.Join(dir, PartName("a"))); err != nil {
		t.Error(err)
	}
}
