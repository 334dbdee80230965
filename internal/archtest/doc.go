// Package archtest holds no code, only a test that enforces the direction of
// qxfer's imports (STYLE rule 2), the way quic-go enforces its http3/internal
// wall with depguard:
//
//	cmd/...  ->  session  ->  session/internal/xfer  ->  session/internal/wire
//	                      ->  session/internal/wire
//	                      ->  quicx  ->  certs
//	                      ->  certs
//
// The engine (session/internal/xfer) knows no sessions, no transport and no
// trust; wire and certs import nothing of the module; only cmd/ and bench/
// use kong; no product package depends on bench/ or internal/udpproxy.
// Every package of the module must belong to one layer of the table in
// arch_test.go, so a new package has to be placed before `make test` passes.
//
// The rules are about the code that ships, the imports of non-test files:
// tests may use test tools such as internal/udpproxy.
package archtest
