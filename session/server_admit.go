package session

import (
	"github.com/qxfer/qxfer/session/internal/xfer"
)

// admission is an admitted push's claim on the server's free space and
// on its client's quota, held until the file ends.
type admission struct {
	space *xfer.Reservation
	quota *quotaClaim
}

// admitPush decides, from the size in the offer and before a byte is
// sent, whether a push of size bytes to p fits: first the client's
// quota (QuotaExceeded), then the free space of the file system less
// MinFree and the pushes in flight (NoSpace). A resumed file needs only
// what its .part lacks.
func (ss *serverSession) admitPush(p string, size uint64) (*admission, error) {
	if ss.root == nil {
		return nil, nil // an S3 root: capacity is the store's
	}
	qc, err := ss.srv.quotas.admit(ss.root, ss.acc.Root, p, ss.tableKey(p), size, ss.acc.Quota)
	if err != nil {
		ss.log.Info().Str("path", p).Uint64("size", size).Int64("quota", ss.acc.Quota).Msg("push refused: quota")
		return nil, err
	}
	r, err := ss.srv.space.AdmitIn(ss.root, p, size, &ss.dirs)
	if err != nil {
		qc.end()
		ss.log.Warn().Str("path", p).Uint64("size", size).Msg("push refused: no space")
		return nil, err
	}
	return &admission{space: r, quota: qc}, nil
}

// landed tells the space reservation the .part is preallocated.
func (a *admission) landed() {
	if a != nil {
		a.space.Landed()
	}
}

// end releases the admission once the file has ended (any outcome), or
// when it was never opened. A nil admission is a no-op.
func (a *admission) end() {
	if a == nil {
		return
	}
	a.space.Release()
	a.quota.end()
}
