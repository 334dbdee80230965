// Package quicx holds qxfer's QUIC and TLS plumbing: the quic-go
// configuration (stream limits, flow-control windows, keep-alives), mutual
// TLS built from a certs.Identity with fingerprint checks inside the
// handshake, listening and dialing on UDP sockets whose buffers are sized
// for long fat links, and (later) connection migration.
//
// quicx knows nothing about the qxfer protocol; the session package passes
// in the ALPN and the verification callbacks.
package quicx
