// Package blob keeps evidence files' contents by their SHA-256: on the embedded
// default in a directory under the data dir (Dir), at scale in S3-compatible object
// storage (S3). A content is written once however often it is uploaded; what a file is
// (its name, its pairing, who sent it) is the application database's.
package blob

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
)

// Store keeps contents by their SHA-256 (lower-case hex).
type Store interface {
	// Put stores the content read from r, whose SHA-256 is sum, unless it is held
	// already; the content read must hash to sum, or nothing is stored. r may be read
	// more than once (S3 hashes it before it sends it).
	Put(ctx context.Context, sum string, r io.ReadSeeker, size int64) error
	// Open reads a content, and says its size; ErrNotFound when none is held. The
	// store has answered when Open returns: what is missing is missing here, not in
	// the middle of a download.
	Open(ctx context.Context, sum string) (io.ReadCloser, int64, error)
}

// ErrNotFound is a content the store does not hold.
var ErrNotFound = errors.New("blob: not found")

var sumRE = regexp.MustCompile(`^[0-9a-f]{64}$`)

// Dir is a Store in a directory: each content at ab/cd/<sum>, written to a temporary
// file, synced and renamed, so a crash leaves either the whole content or none.
type Dir string

func (d Dir) path(sum string) (string, error) {
	if !sumRE.MatchString(sum) {
		return "", fmt.Errorf("blob: %q is not a SHA-256", sum)
	}
	return filepath.Join(string(d), sum[:2], sum[2:4], sum), nil
}

// Put implements Store.
func (d Dir) Put(ctx context.Context, sum string, r io.ReadSeeker, size int64) error {
	p, err := d.path(sum)
	if err != nil {
		return err
	}
	if _, err := os.Stat(p); err == nil {
		return nil // held already: the same content
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), ".put-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // gone after the rename; left by a failure
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), r)
	if err == nil && n != size {
		err = fmt.Errorf("blob: %d bytes read, want %d", n, size)
	}
	if err == nil && hex.EncodeToString(h.Sum(nil)) != sum {
		err = errors.New("blob: the content does not hash to its name")
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), p); err != nil {
		return err
	}
	return syncDir(filepath.Dir(p))
}

// Open implements Store.
func (d Dir) Open(ctx context.Context, sum string) (io.ReadCloser, int64, error) {
	p, err := d.path(sum)
	if err != nil {
		return nil, 0, err
	}
	f, err := os.Open(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, 0, ErrNotFound
	}
	if err != nil {
		return nil, 0, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, fi.Size(), nil
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
