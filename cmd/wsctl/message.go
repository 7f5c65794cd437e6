package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"unicode/utf8"

	"github.com/wsd-dev/wsd/admin/client"
)

// maxFileMessage bounds a message read from a file (the admin API caps
// bodies at 2 MiB of JSON).
const maxFileMessage = 1 << 20

// payload returns the message of send and broadcast: the text argument,
// or the file's content (- for stdin); text unless binary.
func payload(g *globals, text []string, file string, binary bool) (txt *string, bin []byte, err error) {
	var data []byte
	switch {
	case file != "" && len(text) > 0:
		return nil, nil, usagef("give the message as an argument or with --file, not both")
	case file != "":
		var r io.Reader = g.stdin
		if file != "-" {
			f, err := os.Open(file)
			if err != nil {
				return nil, nil, usageError{err}
			}
			defer f.Close()
			r = f
		}
		data, err = io.ReadAll(io.LimitReader(r, maxFileMessage+1))
		if err != nil {
			return nil, nil, fmt.Errorf("--file: %w", err)
		}
		if len(data) > maxFileMessage {
			return nil, nil, usagef("--file: larger than %d bytes", maxFileMessage)
		}
	case len(text) == 1:
		data = []byte(text[0])
	case len(text) == 0:
		return nil, nil, usagef("give the message as an argument or with --file")
	default:
		return nil, nil, usagef("the message must be one argument (quote it)")
	}
	if binary {
		return nil, data, nil
	}
	if !utf8.Valid(data) {
		return nil, nil, usagef("the message is not UTF-8 text; send it with --binary")
	}
	s := string(data)
	return &s, nil, nil
}

// withID adds the id to a not-found error's message.
func withID(err error, id string) error {
	var e *client.Error
	if errors.As(err, &e) && e.Status == 404 {
		cp := *e
		cp.Message = fmt.Sprintf("%s: %s", e.Message, id)
		return &cp
	}
	return err
}
