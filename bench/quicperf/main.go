//go:build linux

// Command quicperf measures the ceiling the benchmarks compare qxfer
// against: a memory-to-memory transfer over raw quic-go with the same
// transport settings as qxfer (quicx.Config defaults: stream window 1 MiB
// growing to 32 MiB, connection window 2 MiB growing to 64 MiB, 7 MiB UDP
// socket buffers forced as root). No files, no hashing, no protocol.
//
//	quicperf server -listen ADDR
//	quicperf client -addr ADDR -bytes N [-streams K]
//
// The server prints JSON lines on stdout: {"event":"listening",...} once
// ready, {"event":"stream",...} for each stream received in full, and
// {"event":"exit","bytes":TOTAL} when SIGINT or SIGTERM stops it, TOTAL
// counting every byte read, also from unfinished streams. The client opens
// K streams, writes N/K bytes on each, waits until the server confirms
// every byte, and prints {"bytes":N,"seconds":S,"mbit_per_s":R}.
//
// The server certificate is throwaway and the client does not check it:
// this is a benchmark tool on an emulated link, not a file transfer.
package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/quic-go/quic-go"
	"golang.org/x/sys/unix"
)

const alpn = "quicperf"

// bufferBytes matches quicx.WantBufferBytes.
const bufferBytes = 7 << 20

// quicConfig matches quicx.Config's defaults (quicx/config.go).
func quicConfig(client bool) *quic.Config {
	c := &quic.Config{
		HandshakeIdleTimeout:           10 * time.Second,
		MaxIdleTimeout:                 30 * time.Second,
		MaxIncomingStreams:             256,
		MaxIncomingUniStreams:          256,
		InitialStreamReceiveWindow:     1 << 20,
		MaxStreamReceiveWindow:         32 << 20,
		InitialConnectionReceiveWindow: 2 << 20,
		MaxConnectionReceiveWindow:     64 << 20,
	}
	if client {
		c.KeepAlivePeriod = 10 * time.Second
	}
	return c
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: quicperf server -listen ADDR | quicperf client -addr ADDR -bytes N [-streams K]")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch os.Args[1] {
	case "server":
		fs := flag.NewFlagSet("server", flag.ExitOnError)
		listen := fs.String("listen", "127.0.0.1:4500", "UDP address to listen on")
		fs.Parse(os.Args[2:])
		err = serve(ctx, *listen)
	case "client":
		fs := flag.NewFlagSet("client", flag.ExitOnError)
		addr := fs.String("addr", "127.0.0.1:4500", "server address")
		n := fs.Int64("bytes", 256<<20, "bytes to send")
		streams := fs.Int("streams", 1, "streams to spread the bytes over")
		fs.Parse(os.Args[2:])
		err = send(ctx, *addr, *n, *streams)
	default:
		err = fmt.Errorf("unknown mode %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "quicperf:", err)
		os.Exit(1)
	}
}

func udpSocket(addr string) (*net.UDPConn, error) {
	var ua *net.UDPAddr
	if addr != "" {
		var err error
		if ua, err = net.ResolveUDPAddr("udp", addr); err != nil {
			return nil, err
		}
	}
	c, err := net.ListenUDP("udp", ua)
	if err != nil {
		return nil, err
	}
	c.SetReadBuffer(bufferBytes)
	c.SetWriteBuffer(bufferBytes)
	if rc, err := c.SyscallConn(); err == nil {
		rc.Control(func(fd uintptr) {
			unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, bufferBytes)
			unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, bufferBytes)
		})
	}
	return c, nil
}

func serverTLS() (*tls.Config, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, priv)
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: priv}},
		NextProtos:   []string{alpn},
		MinVersion:   tls.VersionTLS13,
	}, nil
}

func serve(ctx context.Context, addr string) error {
	tc, err := serverTLS()
	if err != nil {
		return err
	}
	udp, err := udpSocket(addr)
	if err != nil {
		return err
	}
	tr := &quic.Transport{Conn: udp}
	defer tr.Close()
	ln, err := tr.Listen(tc, quicConfig(false))
	if err != nil {
		return err
	}
	var (
		total atomic.Int64
		wg    sync.WaitGroup
		mu    sync.Mutex // serialises stdout
	)
	enc := json.NewEncoder(os.Stdout)
	emit := func(v any) {
		mu.Lock()
		defer mu.Unlock()
		enc.Encode(v)
	}
	emit(map[string]any{"event": "listening", "addr": udp.LocalAddr().String()})
	for {
		conn, err := ln.Accept(ctx)
		if err != nil {
			break
		}
		wg.Go(func() {
			var swg sync.WaitGroup
			for {
				s, err := conn.AcceptStream(ctx)
				if err != nil {
					break
				}
				swg.Go(func() {
					start := time.Now()
					n, err := drain(s, &total)
					if err != nil {
						s.CancelRead(1)
						s.CancelWrite(1)
						return
					}
					var b [8]byte
					binary.BigEndian.PutUint64(b[:], uint64(n))
					s.Write(b[:])
					s.Close()
					emit(map[string]any{"event": "stream", "bytes": n, "seconds": time.Since(start).Seconds()})
				})
			}
			swg.Wait()
		})
	}
	ln.Close()
	emit(map[string]any{"event": "exit", "bytes": total.Load()})
	tr.Close() // closes every connection, so blocked reads return
	wg.Wait()
	return nil
}

// drain reads s to EOF, adding every byte to total as it arrives.
func drain(s *quic.Stream, total *atomic.Int64) (int64, error) {
	buf := make([]byte, 256<<10)
	var n int64
	for {
		m, err := s.Read(buf)
		n += int64(m)
		total.Add(int64(m))
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

func send(ctx context.Context, addr string, n int64, streams int) error {
	if streams < 1 {
		streams = 1
	}
	ra, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return err
	}
	udp, err := udpSocket("")
	if err != nil {
		return err
	}
	tr := &quic.Transport{Conn: udp}
	defer tr.Close()
	start := time.Now()
	conn, err := tr.Dial(ctx, ra, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{alpn}, MinVersion: tls.VersionTLS13}, quicConfig(true))
	if err != nil {
		return err
	}
	defer conn.CloseWithError(0, "")
	chunk := make([]byte, 1<<20)
	rand.Read(chunk)
	errs := make([]error, streams)
	var wg sync.WaitGroup
	for i := range streams {
		share := n / int64(streams)
		if i == 0 {
			share += n % int64(streams)
		}
		wg.Go(func() { errs[i] = sendStream(ctx, conn, chunk, share) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	secs := time.Since(start).Seconds()
	return json.NewEncoder(os.Stdout).Encode(map[string]any{"bytes": n, "seconds": secs, "mbit_per_s": float64(n) * 8 / secs / 1e6})
}

func sendStream(ctx context.Context, conn *quic.Conn, chunk []byte, n int64) error {
	s, err := conn.OpenStreamSync(ctx)
	if err != nil {
		return err
	}
	for left := n; left > 0; {
		m := min(left, int64(len(chunk)))
		if _, err := s.Write(chunk[:m]); err != nil {
			return err
		}
		left -= m
	}
	s.Close()
	var b [8]byte
	if _, err := io.ReadFull(s, b[:]); err != nil {
		return fmt.Errorf("confirmation: %w", err)
	}
	if got := int64(binary.BigEndian.Uint64(b[:])); got != n {
		return fmt.Errorf("server received %d bytes, want %d", got, n)
	}
	return nil
}
