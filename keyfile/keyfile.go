// Package keyfile writes the service's secrets and certificates to files: whole or not
// at all, fsynced before they are used, and never over a key that another process
// created first.
package keyfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
)

// Create writes data to path with mode, unless path exists. It reports false when
// another process (or an earlier start) created path first: the caller then reads
// that file, so two processes starting at once end with one key, the first one's.
func Create(path string, data []byte, mode os.FileMode) (bool, error) {
	tmp, err := writeTemp(path, data, mode)
	if err != nil {
		return false, err
	}
	defer os.Remove(tmp)
	// A hard link fails when path exists: O_EXCL for a file that is already whole.
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return false, nil
		}
		return false, err
	}
	return true, SyncDir(filepath.Dir(path))
}

// WriteAtomic replaces path with data: a reader sees the old file or the new one.
func WriteAtomic(path string, data []byte, mode os.FileMode) error {
	tmp, err := writeTemp(path, data, mode)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return SyncDir(filepath.Dir(path))
}

// writeTemp writes data to a new file beside path and fsyncs it: a key must survive a
// power cut once anything has been signed with it.
func writeTemp(path string, data []byte, mode os.FileMode) (string, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return "", err
	}
	fail := func(err error) (string, error) {
		f.Close()
		os.Remove(f.Name())
		return "", err
	}
	if err := f.Chmod(mode); err != nil {
		return fail(err)
	}
	if _, err := f.Write(data); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

// SyncDir fsyncs a directory, so the names created in it survive a power cut.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
