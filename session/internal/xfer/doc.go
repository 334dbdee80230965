// Package xfer is qxfer's transfer engine: it moves one file's bytes and
// knows nothing of requests, sessions or certificates. A file is a set of
// ranges moved over the lanes of a pool of QUIC connections; a session on
// one connection is a pool of one, so every transfer, push or pull, runs
// the same Sender and Receiver.
//
//   - Sender reads the ranges the receiver lacks, writes each on its own
//     range stream (wire.RangeHeader) on the least busy connection, resends
//     ranges whose connection dies before their Ack, and seals the file
//     with its whole-file hash (XXH64) once read through unchanged.
//   - Receiver writes ranges at their offsets into a preallocated
//     ".NAME.qxfer.part" (named by a hash of NAME when NAME is too long,
//     PartName), hashes the contiguous prefix as it grows, checkpoints
//     the durable ranges in a Record, and renames the .part over its
//     destination only when the hash matches the seal; a .part is kept
//     after a failure only while a later transfer can resume it.
//   - OpenSource opens what a Sender sends: regular files only, checked
//     before anything can block, and files whose stat size is 0 (/proc)
//     read to their end.
//   - Lanes schedules range streams over the connections; RangeSet,
//     RateLimiter, CheckDest and the Error type with its codes are the
//     pieces both sides share.
//
// StreamError is the one place a QUIC stream or connection failure
// becomes an *Error. The package imports neither session, quicx nor certs
// (internal/archtest enforces it).
package xfer
