package wire

import (
	"bytes"
	"fmt"
	"testing"
)

func benchPut() *Put {
	return &Put{
		ID: 1234, Path: "backup/2024/photos/IMG_0001.jpg", Size: 5 << 20, Mode: 0o644,
		MTime: utc(1700000000, 123456789), Flags: FlagForce,
	}
}

func BenchmarkAppendPut(b *testing.B) {
	m := benchPut()
	buf := make([]byte, 0, 128)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendFrame(buf[:0], m)
	}
	b.SetBytes(int64(len(buf)))
}

func BenchmarkReadFramePut(b *testing.B) { benchRead(b, benchPut()) }

// benchRead measures ReadFrame on the encoding of m.
func benchRead(b *testing.B, m Message) {
	data := AppendFrame(nil, m)
	r := bytes.NewReader(data)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		r.Reset(data)
		if _, err := ReadFrame(r); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReadListResult(b *testing.B) {
	m := &ListResult{ID: 1, Last: true}
	for i := range 100 {
		m.Entries = append(m.Entries, Entry{
			Name: fmt.Sprintf("IMG_%04d.jpg", i), Kind: KindFile, Size: uint64(i) << 20,
			Mode: 0o644, MTime: utc(1700000000+int64(i), 0),
		})
	}
	benchRead(b, m)
}
