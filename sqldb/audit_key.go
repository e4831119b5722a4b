package sqldb

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"baocun"
	"baocun/keyfile"
)

// Files of the audit signing key in the data dir: the private key (PKCS #8 PEM, mode
// 0600) and its public half (PKIX PEM), which an auditor takes away to verify.
const (
	AuditKeyFile       = "audit-ed25519.key"
	AuditPublicKeyFile = "audit-ed25519.pub"
)

// AuditKeyID names a public key in checkpoints: hex of the first 8 bytes of its
// SHA-256.
func AuditKeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// LoadOrCreateAuditKey reads the Ed25519 key at path, creating it (0600) on first use,
// and makes sure its public key is beside it (path with .pub for .key).
func LoadOrCreateAuditKey(path string) (ed25519.PrivateKey, error) {
	key, err := ReadAuditPrivateKey(path)
	if errors.Is(err, fs.ErrNotExist) {
		key, err = createAuditKey(path)
	}
	if err != nil {
		return nil, err
	}
	pubPath := PublicKeyPath(path)
	if _, err := os.Stat(pubPath); errors.Is(err, fs.ErrNotExist) {
		if err := keyfile.WriteAtomic(pubPath, MarshalAuditPublicKey(key.Public().(ed25519.PublicKey)), 0o644); err != nil {
			return nil, auditKeyErr(pubPath, err)
		}
	}
	return key, nil
}

// PublicKeyPath is where the public half of the private key at keyPath is written.
func PublicKeyPath(keyPath string) string {
	return strings.TrimSuffix(keyPath, ".key") + ".pub"
}

func createAuditKey(path string) (ed25519.PrivateKey, error) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	data := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	// Two processes creating the key at once end up with one key, the first one's.
	created, err := keyfile.Create(path, data, 0o600)
	if err != nil {
		return nil, auditKeyErr(path, err)
	}
	if !created {
		return ReadAuditPrivateKey(path)
	}
	return key, nil
}

// ReadAuditPrivateKey reads a PKCS #8 PEM Ed25519 private key.
func ReadAuditPrivateKey(path string) (ed25519.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return nil, auditKeyErr(path, err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, auditKeyErr(path, errors.New("not a PEM PRIVATE KEY"))
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, auditKeyErr(path, err)
	}
	key, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, auditKeyErr(path, fmt.Errorf("a %T, not an Ed25519 key", k))
	}
	return key, nil
}

// ReadAuditPublicKey reads an Ed25519 public key: PKIX PEM ("PUBLIC KEY", as
// MarshalAuditPublicKey writes it) or the 32 bytes in hex.
func ReadAuditPublicKey(path string) (ed25519.PublicKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, auditKeyErr(path, err)
	}
	pub, err := ParseAuditPublicKey(data)
	if err != nil {
		return nil, auditKeyErr(path, err)
	}
	return pub, nil
}

// ParseAuditPublicKey parses what ReadAuditPublicKey reads.
func ParseAuditPublicKey(data []byte) (ed25519.PublicKey, error) {
	if block, _ := pem.Decode(data); block != nil {
		if block.Type != "PUBLIC KEY" {
			return nil, fmt.Errorf("PEM block %q, want PUBLIC KEY", block.Type)
		}
		k, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, err
		}
		pub, ok := k.(ed25519.PublicKey)
		if !ok {
			return nil, fmt.Errorf("a %T, not an Ed25519 key", k)
		}
		return pub, nil
	}
	raw, err := hex.DecodeString(strings.TrimSpace(string(data)))
	if err != nil || len(raw) != ed25519.PublicKeySize {
		return nil, errors.New("neither a PEM PUBLIC KEY nor 64 hex digits")
	}
	return ed25519.PublicKey(raw), nil
}

// MarshalAuditPublicKey renders pub as PKIX PEM, which openssl and Go both read.
func MarshalAuditPublicKey(pub ed25519.PublicKey) []byte {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		panic(err) // an ed25519.PublicKey always marshals
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func auditKeyErr(path string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return &baocun.Error{Code: baocun.EINVALID, Op: "audit.key",
		Message: fmt.Sprintf("审计密钥 %s 不可用 Audit key %s unusable: %v", path, path, err)}
}
