//go:build !linux

package xfer

// haveSyncFS is false: GroupSync.Sync is f.Sync() here.
const haveSyncFS = false

// syncGroup is not used where haveSyncFS is false.
func syncGroup(batch []*syncWaiter) {
	for _, w := range batch {
		w.done <- w.f.Sync()
	}
}
