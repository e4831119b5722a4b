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

	"github.com/minio/minio-go/v7/pkg/credentials"

	"baocun/blob"
	"baocun/blob/blobtest"
)

func sum(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// A content is kept under its hash, read back whole, written once however often it
// is put; one that does not hash to its name, or is short, is refused and leaves
// nothing; a name that is not a SHA-256 reaches no object. The same contract in a
// directory and in an S3 bucket on a real S3-compatible server.
func TestStore(t *testing.T) {
	t.Run("dir", func(t *testing.T) {
		d := blob.Dir(t.TempDir())
		testStore(t, d)
		var files []string
		filepath.WalkDir(string(d), func(p string, e os.DirEntry, _ error) error {
			if e != nil && !e.IsDir() {
				files = append(files, filepath.Base(p))
			}
			return nil
		})
		if len(files) != 2 || files[0] != sum(stored) && files[1] != sum(stored) {
			t.Errorf("the store holds %v, want the two contents and no temporary file", files)
		}
	})
	t.Run("s3", func(t *testing.T) { testStore(t, blobtest.S3(t)) })
}

const stored = "村道硬化验收照片"

func testStore(t *testing.T, s blob.Store) {
	ctx := context.Background()
	if err := s.Put(ctx, sum(stored), strings.NewReader(stored), int64(len(stored))); err != nil {
		t.Fatal(err)
	}
	// Held already, whole: not read, not written again.
	if err := s.Put(ctx, sum(stored), strings.NewReader(strings.Repeat("x", len(stored))), int64(len(stored))); err != nil {
		t.Fatalf("putting a held content again: %v", err)
	}
	rc, size, err := s.Open(ctx, sum(stored))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if string(got) != stored || size != int64(len(stored)) {
		t.Fatalf("read back %q, size %d", got, size)
	}
	// A reader part-way through is stored from where it stands.
	r := strings.NewReader("header:正文")
	r.Seek(int64(len("header:")), io.SeekStart)
	if err := s.Put(ctx, sum("正文"), r, int64(len("正文"))); err != nil {
		t.Fatalf("a content read from the middle of its reader: %v", err)
	}
	if err := s.Put(ctx, sum("other"), strings.NewReader("forged"), 6); err == nil {
		t.Error("a content that does not hash to its name was kept")
	}
	if err := s.Put(ctx, sum("short"), strings.NewReader("sho"), 5); err == nil {
		t.Error("a short content was kept")
	}
	for _, refused := range []string{"other", "short"} {
		if _, _, err := s.Open(ctx, sum(refused)); !errors.Is(err, blob.ErrNotFound) {
			t.Errorf("a refused content: %v, want not found", err)
		}
	}
	for _, bad := range []string{"../../etc/passwd", strings.Repeat("A", 64), ""} {
		if _, _, err := s.Open(ctx, bad); err == nil || errors.Is(err, blob.ErrNotFound) {
			t.Errorf("name %q: %v, want refused as no SHA-256", bad, err)
		}
		if err := s.Put(ctx, bad, strings.NewReader("x"), 1); err == nil {
			t.Errorf("name %q was stored", bad)
		}
	}
}

// The S3 store's address: a bucket that is not there stops it at its start; plain
// http to another host, credentials in the address and an address with no bucket are
// refused before a request is made.
func TestS3Address(t *testing.T) {
	ctx := context.Background()
	creds := credentials.NewStaticV4("k", "s", "")
	for _, bad := range []string{
		"http://s3.example.gov.cn/evidence",
		"https://k:s@s3.example.gov.cn/evidence",
		"https://s3.example.gov.cn/",
		"s3://evidence",
		"/var/lib/baocun",
		"https://k:s@s3.example.gov.cn:port/evidence", // does not parse: its error must not repeat it
	} {
		if _, err := blob.NewS3(ctx, bad, creds, false); err == nil {
			t.Errorf("%s was taken", bad)
		} else if strings.Contains(err.Error(), "k:s") || strings.Contains(err.Error(), ":s@") {
			t.Errorf("%s: the error shows the credentials: %v", bad, err)
		}
	}
	addr, id, secret := blobtest.Bucket(t)
	missing := strings.Replace(addr, "baocun-test-", "baocun-missing-", 1)
	if _, err := blob.NewS3(ctx, missing, credentials.NewStaticV4(id, secret, ""), false); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("a missing bucket: %v, want it named as not existing", err)
	}
	if _, err := blob.NewS3(ctx, addr, credentials.NewStaticV4("k", "wrong", ""), false); err == nil {
		t.Error("wrong credentials were taken")
	}
}

// An address is shown without the user and password someone put in it, whether it
// parses or not.
func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"https://AKID:SECRET@s3.example:port/b": "https://…@s3.example:port/b",
		"http://AKIA:abc/def@host/bucket":       "http://…@host/bucket", // a secret with a slash
		"s3://k:s@bucket/x":                     "s3://…@bucket/x",
		"https://s3.example/b":                  "https://s3.example/b",
		"/var/lib/baocun/files":                 "/var/lib/baocun/files",
	} {
		if got := blob.Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}
