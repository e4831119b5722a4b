// Package blobtest gives tests a fresh bucket on the S3-compatible server that
// BAOCUN_TEST_S3 names (http://ACCESS:SECRET@HOST:PORT; .ci/run starts one), removed
// when the test ends. Under CI (CI=true) a missing BAOCUN_TEST_S3 fails the test: the
// object-storage path must run there, never skip.
package blobtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"baocun/blob"
)

// EnvS3 names the variable holding the test server's address and credentials.
const EnvS3 = "BAOCUN_TEST_S3"

// Bucket creates an empty bucket and returns the address serve's --files takes for it
// (http://HOST:PORT/BUCKET/PREFIX, no credentials) and the keys to use with it.
func Bucket(t testing.TB) (addr, accessKey, secretKey string) {
	t.Helper()
	raw := os.Getenv(EnvS3)
	if raw == "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not set: the object-storage tests must run in CI", EnvS3)
		}
		t.Skipf("%s is not set; S3 path not tested here (CI runs it)", EnvS3)
	}
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		t.Fatalf("%s: want http://ACCESS:SECRET@HOST:PORT (%v)", EnvS3, err)
	}
	accessKey = u.User.Username()
	secretKey, _ = u.User.Password()
	client, err := minio.New(u.Host, &minio.Options{Creds: credentials.NewStaticV4(accessKey, secretKey, ""), Secure: u.Scheme == "https", BucketLookup: minio.BucketLookupPath})
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 6)
	rand.Read(b)
	bucket := "baocun-test-" + hex.EncodeToString(b)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := client.MakeBucket(ctx, bucket, minio.MakeBucketOptions{}); err != nil {
		t.Fatalf("make bucket on %s: %v", u.Host, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for o := range client.ListObjects(ctx, bucket, minio.ListObjectsOptions{Recursive: true}) {
			if o.Err == nil {
				client.RemoveObject(ctx, bucket, o.Key, minio.RemoveObjectOptions{})
			}
		}
		client.RemoveBucket(ctx, bucket)
	})
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: "/" + bucket + "/evidence"}).String(), accessKey, secretKey
}

// S3 returns a Store in a fresh bucket.
func S3(t testing.TB) *blob.S3 {
	t.Helper()
	addr, id, secret := Bucket(t)
	s, err := blob.NewS3(context.Background(), addr, credentials.NewStaticV4(id, secret, ""), false)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
