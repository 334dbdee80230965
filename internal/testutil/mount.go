package testutil

import (
	"os"
	"os/exec"
	"testing"
)

// MountTmpfs mounts a tmpfs with the given options (e.g. "size=8m") on a
// fresh directory, returns the directory and unmounts it when the test
// ends. It skips the test where mounting is not possible: not root, no
// mount(8), a container without CAP_SYS_ADMIN.
func MountTmpfs(t testing.TB, opts string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", opts, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("mount tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() { umount(t, dir) })
	return dir
}

// BindMount mounts the directory src onto the directory dst as well, and
// unmounts it when the test ends. It skips the test where that is not
// possible.
func BindMount(t testing.TB, src, dst string) {
	t.Helper()
	if out, err := exec.Command("mount", "--bind", src, dst).CombinedOutput(); err != nil {
		t.Skipf("bind mount: %v: %s", err, out)
	}
	t.Cleanup(func() { umount(t, dst) })
}

// RemountRO makes the mount at dir read-only.
func RemountRO(t testing.TB, dir string) {
	t.Helper()
	if out, err := exec.Command("mount", "-o", "remount,ro", dir).CombinedOutput(); err != nil {
		t.Fatalf("remount ro: %v: %s", err, out)
	}
}

// umount unmounts dir, failing the test if it cannot.
func umount(t testing.TB, dir string) {
	t.Helper()
	if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
		t.Errorf("umount %s: %v: %s", dir, err, out)
	}
}
