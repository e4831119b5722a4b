package blob

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// S3 is a Store in a bucket of S3-compatible object storage (AWS S3, MinIO, Versity,
// SeaweedFS, a cloud's OSS), each content at <prefix><sum>. S3 writes an object
// whole or not at all, so a crash leaves either the whole content or none.
//
// The client is minio-go (github.com/minio/minio-go/v7): small, kept by MinIO, and
// made for any S3-compatible server, where the AWS SDK is made for AWS.
type S3 struct {
	client *minio.Client
	bucket string
	prefix string
	where  string // endpoint/bucket/prefix, for messages
}

// NewS3 opens the bucket that rawURL names, path-style: http(s)://HOST[:PORT]/BUCKET[/PREFIX]
// (?region=R when the server wants one), with creds. It checks that the bucket is
// there before it returns, so a misnamed bucket stops serve at its start, not at the
// first upload. Plain http is refused but to a loopback host unless insecure is set:
// anyone on the path could read the evidence, or change it.
func NewS3(ctx context.Context, rawURL string, creds *credentials.Credentials, insecure bool) (*S3, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("blob: %s: not an address", Redact(rawURL)) // url's own error repeats the address whole
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("blob: %q: want http(s)://HOST[:PORT]/BUCKET[/PREFIX]", redacted(u))
	}
	if u.User != nil {
		return nil, fmt.Errorf("blob: %s: credentials do not go in the address (a command line is readable by every user of the machine): set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY", redacted(u))
	}
	if u.Scheme == "http" && !insecure && !loopback(u.Hostname()) {
		return nil, fmt.Errorf("blob: %s is plain http to another host: use https, or allow it knowingly", u.Redacted())
	}
	bucket, prefix, _ := strings.Cut(strings.Trim(u.Path, "/"), "/")
	if bucket == "" {
		return nil, fmt.Errorf("blob: %s names no bucket: want http(s)://HOST[:PORT]/BUCKET[/PREFIX]", u.Redacted())
	}
	if prefix != "" {
		prefix = strings.TrimSuffix(prefix, "/") + "/"
	}
	client, err := minio.New(u.Host, &minio.Options{
		Creds:        creds,
		Secure:       u.Scheme == "https",
		Region:       u.Query().Get("region"),
		BucketLookup: minio.BucketLookupPath, // minio-go's transport bounds its waits (a minute for a response)
	})
	if err != nil {
		return nil, fmt.Errorf("blob: %s: %v", u.Redacted(), err)
	}
	s := &S3{client: client, bucket: bucket, prefix: prefix, where: u.Host + "/" + bucket + "/" + prefix}
	ok, err := client.BucketExists(ctx, bucket)
	if err != nil {
		return nil, fmt.Errorf("blob: %s: %w", s.where, err)
	}
	if !ok {
		return nil, fmt.Errorf("blob: %s: the bucket %q does not exist: create it first", s.where, bucket)
	}
	return s, nil
}

// Credentials are the keys getenv gives, as every S3 tool reads them:
// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, and AWS_SESSION_TOKEN when the keys are
// temporary. Without a key it is an error: evidence never sits in a public bucket.
func Credentials(getenv func(string) string) (*credentials.Credentials, error) {
	id, secret := getenv("AWS_ACCESS_KEY_ID"), getenv("AWS_SECRET_ACCESS_KEY")
	if id == "" || secret == "" {
		return nil, errors.New("blob: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY to the bucket's keys")
	}
	return credentials.NewStaticV4(id, secret, getenv("AWS_SESSION_TOKEN")), nil
}

func (s *S3) String() string { return "s3://" + s.where }

func (s *S3) key(sum string) (string, error) {
	if !sumRE.MatchString(sum) {
		return "", fmt.Errorf("blob: %q is not a SHA-256", sum)
	}
	return s.prefix + sum, nil
}

// Put implements Store. The content is hashed before it is sent, so a content that
// does not hash to its name never reaches the bucket.
func (s *S3) Put(ctx context.Context, sum string, r io.ReadSeeker, size int64) error {
	key, err := s.key(sum)
	if err != nil {
		return err
	}
	if info, err := s.client.StatObject(ctx, s.bucket, key, minio.StatObjectOptions{}); err == nil && info.Size == size {
		return nil // held already: the same content (an object of another size there is written over)
	} else if err != nil && !notFound(err) {
		return fmt.Errorf("blob: %s: %w", s.where, err)
	}
	start, err := r.Seek(0, io.SeekCurrent)
	if err != nil {
		return err
	}
	h := sha256.New()
	n, err := io.Copy(h, r)
	switch {
	case err != nil:
		return err
	case n != size:
		return fmt.Errorf("blob: %d bytes read, want %d", n, size)
	case hex.EncodeToString(h.Sum(nil)) != sum:
		return errors.New("blob: the content does not hash to its name")
	}
	if _, err := r.Seek(start, io.SeekStart); err != nil {
		return err
	}
	if _, err := s.client.PutObject(ctx, s.bucket, key, r, size, minio.PutObjectOptions{
		ContentType: "application/octet-stream",
		// The server checks what arrives against this, so what it keeps is what was hashed.
		SendContentMd5: true,
		// One PUT (a content is at most --max-file-size, under S3's 5 GiB), read from r
		// as it goes: multipart would hold a 16 MiB part in memory per upload.
		DisableMultipart: true,
	}); err != nil {
		return fmt.Errorf("blob: %s: %w", s.where, err)
	}
	return nil
}

// Open implements Store: one GET, whose answer has come when Open returns, so a
// content the bucket does not hold is ErrNotFound here, not an error in the middle
// of a download.
func (s *S3) Open(ctx context.Context, sum string) (io.ReadCloser, int64, error) {
	key, err := s.key(sum)
	if err != nil {
		return nil, 0, err
	}
	body, info, _, err := minio.Core{Client: s.client}.GetObject(ctx, s.bucket, key, minio.GetObjectOptions{})
	switch {
	case notFound(err):
		return nil, 0, ErrNotFound
	case err != nil:
		return nil, 0, fmt.Errorf("blob: %s: %w", s.where, err)
	}
	return body, info.Size, nil
}

func notFound(err error) bool {
	if err == nil {
		return false
	}
	r := minio.ToErrorResponse(err)
	return r.Code == minio.NoSuchKey || r.StatusCode == http.StatusNotFound && r.Code != minio.NoSuchBucket
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func redacted(u *url.URL) string {
	c := *u
	c.User = nil
	return c.String()
}

// Redact is an address as it may be shown: without whatever stands between its
// scheme and its last @ (a user and password someone put there, which may hold a
// "/"), whether it parses or not. It may hide more than the keys; never less.
func Redact(addr string) string {
	scheme, rest, ok := strings.Cut(addr, "://")
	if !ok {
		return addr
	}
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		return scheme + "://…@" + rest[at+1:]
	}
	return addr
}
