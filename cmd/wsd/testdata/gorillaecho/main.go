// Command gorillaecho is the reference echo server for wsd's CPU
// measurement (TestMeasureEchoCPU): gorilla/websocket as its chat example
// uses it, one goroutine per connection, NextReader/NextWriter.
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"

	"github.com/gorilla/websocket"
)

func main() {
	addr := flag.String("listen", "127.0.0.1:0", "address")
	flag.Parse()
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Fprintln(os.Stdout, ln.Addr().String())
	log.Fatal(http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		for {
			typ, rd, err := c.NextReader()
			if err != nil {
				return
			}
			wr, err := c.NextWriter(typ)
			if err != nil {
				return
			}
			if _, err := io.Copy(wr, rd); err != nil {
				return
			}
			if err := wr.Close(); err != nil {
				return
			}
		}
	})))
}
