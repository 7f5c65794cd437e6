package session

import (
	"hash/fnv"
	"strconv"
)

// MaxNodeTag is the largest node tag: 14 bits of a connection id.
const MaxNodeTag = 1<<14 - 1

// NodeTag returns the tag a node named name puts in the connection ids it
// makes, so that a fleet can route an id to its node without asking every
// node: 1 to MaxNodeTag (0 means an id made without a tag). Two nodes may
// share a tag; a router then asks both.
func NodeTag(name string) uint16 {
	h := fnv.New32a()
	h.Write([]byte(name)) // a hash.Hash never fails to write
	return uint16(h.Sum32()%MaxNodeTag) + 1
}

// IDNodeTag returns the node tag of a connection id in its canonical form
// (a UUIDv7, 8-4-4-4-12): the 14 bits after the variant, at the start of
// its fourth group. ok is false for a string that is not such an id; the
// tag is 0 for an id made without one.
func IDNodeTag(id string) (tag uint16, ok bool) {
	if len(id) != 36 || id[8] != '-' || id[13] != '-' || id[18] != '-' || id[23] != '-' {
		return 0, false
	}
	v, err := strconv.ParseUint(id[19:23], 16, 16)
	if err != nil || v>>14 != 0b10 {
		return 0, false
	}
	return uint16(v & MaxNodeTag), true
}
