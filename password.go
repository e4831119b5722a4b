package baocun

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// argon2id parameters (RFC 9106's second recommended option, memory lowered to fit a
// small server): about 50 ms a hash on this project's machines.
const (
	argonTime    = 3
	argonMemory  = 32 * 1024 // KiB
	argonThreads = 2
	argonKeyLen  = 32
)

// The lengths a password may have, in characters (a Chinese character is one, not
// the three bytes UTF-8 takes): long enough to resist guessing, short enough that
// nobody sends a novel to be hashed.
const (
	MinPasswordLength = 10
	MaxPasswordLength = 256
)

// ValidatePassword checks a new password's length. Every password an account is
// given (created, changed or reset) goes through HashPassword, which checks it here.
func ValidatePassword(password string) error {
	switch n := utf8.RuneCountInString(password); {
	case n < MinPasswordLength:
		return &Error{Code: EINVALID, Message: fmt.Sprintf("密码至少 %d 个字符 Password must be at least %d characters.", MinPasswordLength, MinPasswordLength),
			Fields: map[string]string{"password": "too short"}}
	case n > MaxPasswordLength:
		return &Error{Code: EINVALID, Message: fmt.Sprintf("密码至多 %d 个字符 Password must be at most %d characters.", MaxPasswordLength, MaxPasswordLength),
			Fields: map[string]string{"password": "too long"}}
	}
	return nil
}

// HashPassword returns the argon2id hash of password in the PHC string form, which
// carries its own parameters so they can be raised later without breaking old hashes.
func HashPassword(password string) (string, error) {
	if err := ValidatePassword(password); err != nil {
		return "", err
	}
	salt := make([]byte, 16)
	rand.Read(salt)
	var key []byte
	if err := inPasswordSlot(func() { key = argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen) }); err != nil {
		return "", err
	}
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), nil
}

// CheckPassword reports whether password matches hash, in constant time. It fails
// (ETOOMANY) only when no password slot is free soon: then nothing was checked.
func CheckPassword(hash, password string) (bool, error) {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, nil
	}
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil {
		return false, nil
	}
	salt, err1 := base64.RawStdEncoding.DecodeString(parts[4])
	want, err2 := base64.RawStdEncoding.DecodeString(parts[5])
	if err1 != nil || err2 != nil {
		return false, nil
	}
	var got []byte
	if err := inPasswordSlot(func() { got = argon2.IDKey([]byte(password), salt, t, m, p, uint32(len(want))) }); err != nil {
		return false, err
	}
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}
