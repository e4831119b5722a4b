package sheettest_test

import (
	"bytes"
	"compress/flate"
	"hash/crc32"
	"io"
	"testing"

	"baocun/sheet/sheettest"
)

// The huge part is what it says: inflated, exactly its size and checksum, so the
// bomb the suite sends is a real one.
func TestHugePartInflatesToItsSize(t *testing.T) {
	data, size, crc := sheettest.HugePart(64 << 20)
	h := crc32.NewIEEE()
	n, err := io.Copy(h, flate.NewReader(bytes.NewReader(data)))
	if err != nil || uint64(n) != size || h.Sum32() != crc {
		t.Fatalf("%d packed bytes inflate to %d (%v), checksum %08x; want %d, %08x", len(data), n, err, h.Sum32(), size, crc)
	}
	if len(data) > int(size/500) {
		t.Fatalf("%d bytes packed for %d: not a bomb", len(data), size)
	}
}
