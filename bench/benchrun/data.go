//go:build linux

package main

import (
	"bufio"
	"encoding/binary"
	"math/rand/v2"
	"os"
	"path/filepath"
)

// writeRandom writes n pseudo-random bytes (ChaCha8 seeded by seed) to p.
func writeRandom(p string, n int64, seed uint64) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	f, err := os.Create(p)
	if err != nil {
		return err
	}
	var s [32]byte
	binary.LittleEndian.PutUint64(s[:], seed)
	rng := rand.NewChaCha8(s)
	w := bufio.NewWriterSize(f, 1<<20)
	buf := make([]byte, 1<<20)
	for left := n; left > 0; {
		m := min(left, int64(len(buf)))
		rng.Read(buf[:m])
		if _, err := w.Write(buf[:m]); err != nil {
			f.Close()
			return err
		}
		left -= m
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
