package tcpwave_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/netip"
	"syscall"

	"github.com/tcpwave/tcpwave"
	"github.com/tcpwave/tcpwave/link/pipe"
)

// twoHosts starts two hosts, 10.0.0.1 and 10.0.0.2, joined by an
// in-memory link.
func twoHosts() (server, client *tcpwave.Stack) {
	a, b := pipe.New(1500, 0)
	server, err := tcpwave.New(a, []netip.Addr{netip.MustParseAddr("10.0.0.1")})
	if err != nil {
		log.Fatal(err)
	}
	client, err = tcpwave.New(b, []netip.Addr{netip.MustParseAddr("10.0.0.2")})
	if err != nil {
		log.Fatal(err)
	}
	return server, client
}

// An echo server and its client, each on its own host, with the API of
// package net.
func Example() {
	server, client := twoHosts()
	defer client.Close()
	defer server.Close()

	ln, err := server.Listen("tcp", "10.0.0.1:7")
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return // the listener was closed
			}
			go func() {
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()

	c, err := client.Dial("tcp", "10.0.0.1:7")
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintln(c, "hello, tcpwave")
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(line)
	// Output: hello, tcpwave
}

// Dialing a port where nobody listens draws a RST: the error is
// ECONNREFUSED, as with package net on Linux.
func ExampleStack_Dial_refused() {
	server, client := twoHosts()
	defer client.Close()
	defer server.Close()

	_, err := client.Dial("tcp", "10.0.0.1:9")
	fmt.Println(err)
	fmt.Println(errors.Is(err, syscall.ECONNREFUSED))
	// Output:
	// dial tcp 10.0.0.1:9: connect: connection refused
	// true
}

// CloseWrite sends a FIN while the connection stays open for reading: the
// server reads until io.EOF, then answers.
func ExampleConn_CloseWrite() {
	server, client := twoHosts()
	defer client.Close()
	defer server.Close()

	ln, err := server.Listen("tcp", "10.0.0.1:80")
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		req, _ := io.ReadAll(c) // until the client's FIN
		fmt.Fprintf(c, "got %d bytes", len(req))
	}()

	c, err := client.Dial("tcp", "10.0.0.1:80")
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("request body"))
	c.CloseWrite()
	reply, err := io.ReadAll(c)
	fmt.Printf("%s, %v\n", reply, err)
	// Output: got 12 bytes, <nil>
}

// A Listener is a net.Listener: code written for package net serves on a
// tcpwave host unchanged.
func ExampleStack_Listen() {
	server, client := twoHosts()
	defer client.Close()
	defer server.Close()

	ln, err := server.Listen("tcp", "10.0.0.1:0") // an ephemeral port
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
	go serveGreeting(ln)

	c, err := client.Dial("tcp", ln.Addr().String())
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	greeting, _ := io.ReadAll(c)
	fmt.Println(string(greeting))
	// Output: welcome
}

// serveGreeting knows nothing of tcpwave.
func serveGreeting(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		io.WriteString(c, "welcome")
		c.Close()
	}
}
