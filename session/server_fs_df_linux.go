package session

import (
	"os"

	"golang.org/x/sys/unix"

	"github.com/qxfer/qxfer/session/internal/wire"
)

// statFS describes the file system holding p, opened through root so that
// the path checks of os.Root apply; dir (the root's name) is unused here.
// Linux counts blocks in f_frsize units (statvfs(3)), f_bsize when that
// is 0.
func statFS(root *os.Root, _ string, p string) (*wire.DfResult, error) {
	f, err := root.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var st unix.Statfs_t
	if err := unix.Fstatfs(int(f.Fd()), &st); err != nil {
		return nil, &os.PathError{Op: "statfs", Path: p, Err: err}
	}
	bs := uint64(st.Frsize)
	if bs == 0 {
		bs = uint64(st.Bsize)
	}
	return &wire.DfResult{
		Total: st.Blocks * bs, Free: st.Bfree * bs, Avail: st.Bavail * bs,
		Files: st.Files, FilesFree: st.Ffree,
	}, nil
}
