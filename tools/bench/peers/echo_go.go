// Go crypto/tls echo peer for tools/bench/run: standard library only, one
// goroutine per connection, io.Copy. Requires and verifies a client
// certificate; TLS 1.3 only, X25519. Prints "msg=listening addr=HOST:PORT"
// on stderr once it accepts, and exits on SIGTERM.
package main

import (
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "host:port to listen on")
	certFile := flag.String("cert", "", "server certificate (PEM)")
	keyFile := flag.String("key", "", "server private key (PEM)")
	caFile := flag.String("ca", "", "CA that signs client certificates (PEM)")
	flag.Parse()

	cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "echo_go:", err)
		os.Exit(2)
	}
	caPEM, err := os.ReadFile(*caFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "echo_go:", err)
		os.Exit(2)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		fmt.Fprintln(os.Stderr, "echo_go: no certificates in", *caFile)
		os.Exit(2)
	}
	cfg := &tls.Config{
		Certificates:     []tls.Certificate{cert},
		ClientAuth:       tls.RequireAndVerifyClientCert,
		ClientCAs:        pool,
		MinVersion:       tls.VersionTLS13,
		CurvePreferences: []tls.CurveID{tls.X25519},
	}
	ln, err := tls.Listen("tcp", *listen, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "echo_go:", err)
		os.Exit(2)
	}
	fmt.Fprintf(os.Stderr, "msg=listening addr=%s\n", ln.Addr())

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-sig
		os.Exit(0)
	}()
	for {
		c, err := ln.Accept()
		if err != nil {
			continue // EMFILE and friends: keep serving
		}
		go func(c net.Conn) {
			defer c.Close()
			io.Copy(c, c)
		}(c)
	}
}
