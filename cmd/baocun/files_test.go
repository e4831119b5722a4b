package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7/pkg/credentials"

	"baocun/blob"
	"baocun/blob/blobtest"
)

// At scale the evidence is kept in an S3 bucket on a real S3-compatible server (the
// one BAOCUN_TEST_S3 names; .ci/run starts Versity's gateway): an upload through
// serve lands in the bucket under its SHA-256, with its thumbnail, and nothing under
// the data dir; it reads back whole through the API. serve does not start on a bucket
// that is not there, and writes nothing when it refuses.
func TestServeKeepsEvidenceInABucket(t *testing.T) {
	addr, id, secret := blobtest.Bucket(t)
	keys := []string{"AWS_ACCESS_KEY_ID=" + id, "AWS_SECRET_ACCESS_KEY=" + secret}
	t.Run("a bucket that is not there", func(t *testing.T) {
		missing := strings.Replace(addr, "baocun-test-", "baocun-missing-", 1)
		checkBadInput(t, badInput{
			args: func(dir string) []string {
				return []string{"--data-dir", dir, "--http", "127.0.0.1:0", "--temporal-port", "0", "--files", missing}
			},
			env:  keys,
			want: []string{"--files", "does not exist", "create it first"},
			code: 1,
		})
	})

	dir := t.TempDir()
	e := newLifecycleEnvWith(t, keys, "--data-dir", dir, "--files", addr)
	ctx := context.Background()
	cycle, err := e.org.Launch(ctx, e.launch([2]string{"SZ01", "QS-001"}))
	if err != nil {
		t.Fatal(err)
	}
	ps, err := e.org.Pairings(ctx, cycle, nil)
	if err != nil || len(ps) != 1 {
		t.Fatalf("pairings: %v, %v", ps, err)
	}
	img := image.NewRGBA(image.Rect(0, 0, 640, 480))
	for i := range img.Pix {
		img.Pix[i] = byte(i * 7)
	}
	img.Set(0, 0, color.White)
	var pic bytes.Buffer
	png.Encode(&pic, img)
	f, err := e.org.UploadFile(ctx, ps[0].ID, "村道.png", pic.Bytes())
	if err != nil || !f.Thumbnail {
		t.Fatalf("upload: %+v, %v; want a file with a thumbnail", f, err)
	}
	if got, err := e.org.File(ctx, f.ID, false); err != nil || !bytes.Equal(got, pic.Bytes()) {
		t.Errorf("read back through the API: %d bytes, %v; want the photo's %d", len(got), err, pic.Len())
	}
	thumb, err := e.org.File(ctx, f.ID, true)
	if err != nil {
		t.Errorf("the thumbnail: %v", err)
	} else if img, err := jpeg.Decode(bytes.NewReader(thumb)); err != nil || img.Bounds().Dx() != 320 {
		t.Errorf("the thumbnail: %v, %v; want a JPEG 320 px wide", img, err)
	}
	thumbSum := sha256.Sum256(thumb)
	// In the bucket, under its hash, read with the bucket's own keys.
	bucket, err := blob.NewS3(ctx, addr, credentials.NewStaticV4(id, secret, ""), false)
	if err != nil {
		t.Fatal(err)
	}
	for _, sum := range []string{f.SHA256, hex.EncodeToString(thumbSum[:])} {
		rc, _, err := bucket.Open(ctx, sum)
		if err != nil {
			t.Errorf("the bucket does not hold %s: %v", sum, err)
			continue
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		if sum == f.SHA256 && !bytes.Equal(b, pic.Bytes()) {
			t.Errorf("the bucket holds %d bytes under the photo's hash, want %d", len(b), pic.Len())
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "files")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the data dir has a files directory (%v): the evidence went to the disk, not the bucket", err)
	}
}
