package wire

import "fmt"

// message runs the fields of m through c, in wire order: this function
// is the byte layout of every message, as the doc comments of the
// message types draw it and PROTOCOL.md specifies it. Parsing, m is a
// zero message of its type (newMessage) that the fields fill in.
//
// It panics if m is not a message of this package.
func (c *codec) message(m Message) {
	switch m := m.(type) {
	case *Hello:
		c.magic(&m.Magic)
		c.varint("version", &m.Version)
		c.string("software", &m.Software, MaxSoftwareLen)
	case *Welcome:
		c.varint("version", &m.Version)
		c.varint("max transfers", &m.MaxTransfers)
		c.bytes("token", &m.Token, MaxTokenLen)
		c.string("software", &m.Software, MaxSoftwareLen)
		if c.optional(m.JoinAddr != "") {
			c.string("join address", &m.JoinAddr, MaxJoinAddrLen)
			// Present means set: an empty one would be a second
			// encoding of the same Welcome.
			if c.parsing() && m.JoinAddr == "" {
				c.p.fail("join address", ErrTrailingBytes)
			}
		}
	case *Join:
		c.magic(&m.Magic)
		c.varint("version", &m.Version)
		c.bytes("token", &m.Token, MaxTokenLen)
	case *Drop:
		c.bytes("token", &m.Token, MaxTokenLen)
	case *List:
		c.varint("id", &m.ID)
		c.string("path", &m.Path, MaxPathLen)
	case *ListPacked:
		c.message((*List)(m))
	case *ListResult:
		c.varint("id", &m.ID)
		c.bool("last", &m.Last)
		for i := range list(c, &m.Entries, c.count("entry count", minEntryLen, 0, len(m.Entries))) {
			c.entry(&m.Entries[i])
		}
	case *ListPackedResult:
		c.varint("id", &m.ID)
		c.bool("last", &m.Last)
		prev := &Entry{MTime: packedEpoch}
		for i := range list(c, &m.Entries, c.count("entry count", minPackedEntryLen, 0, len(m.Entries))) {
			if c.packedEntry(prev, &m.Entries[i]); c.p.err != nil {
				break
			}
			prev = &m.Entries[i]
		}
	case *Features:
		c.varint("id", &m.ID)
		c.varint("bits", (*uint64)(&m.Bits))
	case *FeaturesResult:
		c.message((*Features)(m))
	case *Stat:
		c.varint("id", &m.ID)
		c.string("path", &m.Path, MaxPathLen)
	case *StatResult:
		c.varint("id", &m.ID)
		c.entry(&m.Entry)
	case *Mkdir:
		c.varint("id", &m.ID)
		c.string("path", &m.Path, MaxPathLen)
		c.mode("mode", &m.Mode)
	case *DirMeta:
		c.varint("id", &m.ID)
		c.string("path", &m.Path, MaxPathLen)
		c.mode("mode", &m.Mode)
		c.mtime("mtime", &m.MTime)
	case *Remove:
		c.varint("id", &m.ID)
		c.string("path", &m.Path, MaxPathLen)
		c.varint("flags", (*uint64)(&m.Flags))
	case *Rename:
		c.varint("id", &m.ID)
		c.string("from", &m.From, MaxPathLen)
		c.string("to", &m.To, MaxPathLen)
	case *Df:
		c.varint("id", &m.ID)
		c.string("path", &m.Path, MaxPathLen)
	case *DfResult:
		c.varint("id", &m.ID)
		c.varint("total", &m.Total)
		c.varint("free", &m.Free)
		c.varint("avail", &m.Avail)
		c.varint("files", &m.Files)
		c.varint("files free", &m.FilesFree)
	case *Symlink:
		c.varint("id", &m.ID)
		c.string("path", &m.Path, MaxPathLen)
		c.string("target", &m.Target, MaxPathLen)
		c.varint("flags", (*uint64)(&m.Flags))
	case *Readlink:
		c.varint("id", &m.ID)
		c.string("path", &m.Path, MaxPathLen)
	case *LinkTarget:
		c.varint("id", &m.ID)
		c.string("target", &m.Target, MaxPathLen)
	case *Checksum:
		c.varint("id", &m.ID)
		c.string("path", &m.Path, MaxPathLen)
	case *ChecksumResult:
		c.varint("id", &m.ID)
		c.varint("size", &m.Size)
		c.hash("hash", &m.Hash, ChecksumSize, false)
	case *Put:
		c.varint("id", &m.ID)
		c.string("path", &m.Path, MaxPathLen)
		c.varint("size", &m.Size)
		c.mode("mode", &m.Mode)
		c.mtime("mtime", &m.MTime)
		c.varint("flags", (*uint64)(&m.Flags))
	case *PartAlign:
		c.varint("id", &m.ID)
		c.varint("part size", &m.PartSize)
		c.varint("window", &m.Window)
	case *Accept:
		c.varint("id", &m.ID)
		c.varint("flags", (*uint64)(&m.Flags))
		c.ranges("have", &m.Have)
		c.hash("prefix hash", &m.PrefixHash, HashSize, true)
	case *Get:
		c.varint("id", &m.ID)
		c.string("path", &m.Path, MaxPathLen)
		c.varint("size", &m.Size)
		c.mtime("mtime", &m.MTime)
		c.varint("flags", (*uint64)(&m.Flags))
		c.ranges("have", &m.Have)
		c.hash("prefix hash", &m.PrefixHash, HashSize, true)
	case *FileInfo:
		c.varint("id", &m.ID)
		c.varint("size", &m.Size)
		c.mode("mode", &m.Mode)
		c.mtime("mtime", &m.MTime)
	case *DeltaSig:
		c.varint("id", &m.ID)
		c.bool("last", &m.Last)
		for i := range list(c, &m.Chunks, c.count("chunks", 1+SumSize, 0, len(m.Chunks))) {
			c.varint("chunk length", &m.Chunks[i].Length)
			c.fixed("chunk sum", m.Chunks[i].Sum[:])
		}
	case *DeltaPlan:
		c.varint("id", &m.ID)
		c.bool("last", &m.Last)
		for i := range list(c, &m.Ops, c.count("ops", 3+SumSize, 0, len(m.Ops))) {
			o := &m.Ops[i]
			c.varint("op offset", &o.Offset)
			c.varint("op source", &o.Source)
			c.varint("op length", &o.Length)
			c.fixed("op sum", o.Sum[:])
		}
	case *DeltaHave:
		c.varint("id", &m.ID)
		c.ranges("have", &m.Have)
		c.hash("prefix hash", &m.PrefixHash, HashSize, true)
	case *Seal:
		c.varint("id", &m.ID)
		c.hash("hash", &m.Hash, HashSize, false)
	case *Ack:
		c.varint("id", &m.ID)
		c.varint("offset", &m.Offset)
		c.varint("length", &m.Length)
	case *OK:
		c.varint("id", &m.ID)
	case *Reject:
		c.varint("id", &m.ID)
		c.varint("code", (*uint64)(&m.Code))
		c.string("msg", &m.Msg, MaxMessageLen)
	case *Done:
		c.message((*Reject)(m))
	case *Cancel:
		c.varint("id", &m.ID)
		c.varint("code", (*uint64)(&m.Code))
	case *Unknown:
		// Zero bytes stand in for the discarded payload: peers skip
		// unknown frames, so AppendFrame can also send padding.
		// ParseMessage never parses into an Unknown.
		if c.op == opSize {
			c.n += int(m.Length)
		} else {
			c.out = append(c.out, make([]byte, m.Length)...)
		}
	default:
		panic(fmt.Sprintf("wire: %T is not a message of this package", m))
	}
}

// entry runs e, an element of a ListResult or the tail of a StatResult.
func (c *codec) entry(e *Entry) {
	c.string("name", &e.Name, MaxPathLen)
	c.kind("kind", &e.Kind)
	c.varint("size", &e.Size)
	c.mode("mode", &e.Mode)
	c.mtime("mtime", &e.MTime)
}

// ranges runs a range list of at most MaxRanges ranges:
//
//	Count (varint) | Count × (Offset (varint) | Length (varint))
//
// Parsed, an empty one is nil. The codec does not check that the ranges
// are sorted, disjoint or inside the file: that is the session's business.
func (c *codec) ranges(field string, rs *[]Range) {
	for i := range list(c, rs, c.count(field, minRangeLen, MaxRanges, len(*rs))) {
		c.varint(field, &(*rs)[i].Offset)
		c.varint(field, &(*rs)[i].Length)
	}
}
