package blob_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"baocun/blob"
)

func sum(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// A content is kept under its hash, read back whole, written once however often it
// is put; one that does not hash to its name, or is short, is refused and leaves
// nothing; a name that is not a SHA-256 reaches no file.
func TestDir(t *testing.T) {
	ctx := context.Background()
	d := blob.Dir(t.TempDir())
	const content = "村道硬化验收照片"
	if err := d.Put(ctx, sum(content), strings.NewReader(content), int64(len(content))); err != nil {
		t.Fatal(err)
	}
	if err := d.Put(ctx, sum(content), strings.NewReader("anything: held already"), 3); err != nil {
		t.Fatalf("putting a held content again: %v", err)
	}
	rc, err := d.Open(ctx, sum(content))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if string(got) != content {
		t.Fatalf("read back %q", got)
	}
	if err := d.Put(ctx, sum("other"), strings.NewReader("forged"), 6); err == nil {
		t.Error("a content that does not hash to its name was kept")
	}
	if err := d.Put(ctx, sum("short"), strings.NewReader("sho"), 5); err == nil {
		t.Error("a short content was kept")
	}
	if _, err := d.Open(ctx, sum("other")); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("a refused content: %v, want not found", err)
	}
	for _, bad := range []string{"../../etc/passwd", strings.Repeat("A", 64), ""} {
		if _, err := d.Open(ctx, bad); err == nil || errors.Is(err, blob.ErrNotFound) {
			t.Errorf("name %q: %v, want refused as no SHA-256", bad, err)
		}
	}
	var files []string
	filepath.WalkDir(string(d), func(p string, e os.DirEntry, _ error) error {
		if e != nil && !e.IsDir() {
			files = append(files, filepath.Base(p))
		}
		return nil
	})
	if len(files) != 1 || files[0] != sum(content) {
		t.Errorf("the store holds %v, want the one content and no temporary file", files)
	}
}
