package store

import (
	"context"
	"time"
)

// releaseLease clears the lease of the writer's state object, so that
// the next writer of the upload (on this server or another) takes it over
// at once. The state object may be newer than the writer believes: a
// checkpoint whose request was cancelled (the writer's context ended
// with its transfer) can still have been applied by the store, leaving
// the writer's ETag stale. Then the current state object is read, and
// released if the lease is still this writer's; it records what the store
// holds, so the parts it lists are kept for a resume.
// (TestPushResumeAfterKill found the lease left held for its full TTL.)
func (w *s3Writer) releaseLease(ctx context.Context) {
	st := *w.st
	st.Owner, st.Expires = "", time.Time{}
	etag, err := w.s.saveState(ctx, w.sk, w.stETag, &st)
	if preconditionFailed(err) {
		cur, curETag, lerr := w.s.loadState(ctx, w.sk)
		if lerr != nil || cur == nil || cur.Owner != w.owner {
			return // another writer took it over, or it is gone
		}
		st = *cur
		st.Owner, st.Expires = "", time.Time{}
		etag, err = w.s.saveState(ctx, w.sk, curETag, &st)
	}
	if err == nil {
		w.st, w.stETag = &st, etag
	}
}
