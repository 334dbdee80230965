package session

import (
	"errors"
	"fmt"
)

// ActionKind is what a dry run found that a batch would do with one
// entry, or what Options.Delete did.
type ActionKind uint8

// The action kinds.
const (
	// ActionSend: the destination does not hold the entry; it is sent.
	ActionSend ActionKind = iota + 1
	// ActionUpdate: the destination holds a different version, which is
	// replaced (with Force or Delete).
	ActionUpdate
	// ActionUpToDate: the destination is identical (same size and
	// modification time, or same link target); nothing is sent.
	ActionUpToDate
	// ActionSkipNewer: Update skips it, the destination is newer.
	ActionSkipNewer
	// ActionFail: the entry would fail (Action.Err says why).
	ActionFail
	// ActionDelete: the source does not hold the entry; Delete removes
	// it from the destination.
	ActionDelete
)

// String is the action's name in listings and JSON: send, update,
// uptodate, skip, fail, delete.
func (k ActionKind) String() string {
	switch k {
	case ActionSend:
		return "send"
	case ActionUpdate:
		return "update"
	case ActionUpToDate:
		return "uptodate"
	case ActionSkipNewer:
		return "skip"
	case ActionFail:
		return "fail"
	case ActionDelete:
		return "delete"
	}
	return fmt.Sprintf("action(%d)", uint8(k))
}

// Action is one entry of a dry run's listing (Report.Actions), or one
// entry a real run deleted.
type Action struct {
	Kind ActionKind
	Dir  Direction
	// Path is the entry's destination: a remote path for a push, a local
	// one (under the local target) for a pull.
	Path string
	// Source is where it comes from: the local path of a push, the
	// remote path of a pull; "" for a deletion.
	Source string
	// IsDir says a deleted entry is a directory; IsLink that the entry is
	// a symbolic link (-l).
	IsDir, IsLink bool
	// Size is the source's size in bytes (0 for links, directories and
	// deletions).
	Size int64
	// Reason says why, in a few words ("new", "size differs", "not in
	// the source").
	Reason string
	// Err is the failure of an ActionFail.
	Err error
}

// ErrMaxDelete is the error of a batch whose Delete would remove more
// entries than Options.MaxDelete: nothing was deleted.
var ErrMaxDelete = errors.New("more deletions than --max-delete allows; nothing was deleted")
