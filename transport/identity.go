package transport

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// DeviceKey is the device's signing key. FileKey keeps it in a file with
// owner-only permissions; a TPM or Secure Enclave key implements the same
// interface (crypto.Signer over ECDSA P-256).
type DeviceKey interface {
	crypto.Signer
	// DeviceID is derived from the public key (DeviceIDFromPublicKey).
	DeviceID() string
}

// DeviceIDFromPublicKey derives the device id: "fw-" and the first 16
// bytes, in hex, of SHA-256 over the DER SubjectPublicKeyInfo. The id
// cannot be claimed without the key.
func DeviceIDFromPublicKey(pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("device id: %w", err)
	}
	sum := sha256.Sum256(der)
	return "fw-" + hex.EncodeToString(sum[:16]), nil
}

// ValidDeviceID reports whether s has the form of a device id.
func ValidDeviceID(s string) bool {
	if len(s) != 35 || !strings.HasPrefix(s, "fw-") {
		return false
	}
	return validHash(s[3:])
}

// fileKey is an ECDSA P-256 key kept in a PEM file.
type fileKey struct {
	*ecdsa.PrivateKey
	id string
}

func (k *fileKey) DeviceID() string { return k.id }

// KeyFileName is the device key's file in the state directory.
const KeyFileName = "device.key"

// LoadOrCreateKey returns the device key stored in dir, creating it (and
// dir, 0700) on first use. The file is written 0600 and atomically, so a
// crash never leaves half a key. On unix a key file readable by group or
// others is refused: the device identity would be shared.
func LoadOrCreateKey(dir string) (DeviceKey, error) {
	path := filepath.Join(dir, KeyFileName)
	k, err := LoadKey(dir)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return k, err
	}
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("device key: generate: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("device key: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("device key: %w", err)
	}
	if err := WriteFileAtomic(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return nil, fmt.Errorf("device key: %w", err)
	}
	return LoadKey(dir)
}

// LoadKey reads the device key from dir.
func LoadKey(dir string) (DeviceKey, error) {
	path := filepath.Join(dir, KeyFileName)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("device key: %w", err)
	}
	if err := checkPrivate(path); err != nil {
		return nil, err
	}
	b, _ := pem.Decode(data)
	if b == nil || b.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("device key %s: no PEM PRIVATE KEY block", path)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("device key %s: %w", path, err)
	}
	priv, ok := parsed.(*ecdsa.PrivateKey)
	if !ok || priv.Curve != elliptic.P256() {
		return nil, fmt.Errorf("device key %s: not an ECDSA P-256 key", path)
	}
	id, err := DeviceIDFromPublicKey(&priv.PublicKey)
	if err != nil {
		return nil, err
	}
	return &fileKey{PrivateKey: priv, id: id}, nil
}

// NewCSR makes a certificate request for key with the device id as the
// common name.
func NewCSR(key DeviceKey) ([]byte, error) {
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject:            pkix.Name{CommonName: key.DeviceID()},
		SignatureAlgorithm: x509.ECDSAWithSHA256,
	}, key)
	if err != nil {
		return nil, fmt.Errorf("csr: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), nil
}

// HashIdentifier is the keyed hash of a network identifier that leaves
// the device (gateway MAC, BSSID, SSID, neighbour MAC): the first 16
// bytes of HMAC-SHA256(fleetKey, kind ":" normalised value), in hex.
// Devices of one fleet hash the same value alike, so the collector can
// compare without learning the value.
func HashIdentifier(fleetKey []byte, kind, value string) string {
	m := hmac.New(sha256.New, fleetKey)
	m.Write([]byte(kind))
	m.Write([]byte{':'})
	m.Write([]byte(strings.ToLower(strings.TrimSpace(value))))
	return hex.EncodeToString(m.Sum(nil)[:16])
}

// WriteFileAtomic writes data to a temporary file beside path, syncs it
// and renames it into place with the given permissions.
func WriteFileAtomic(path string, data []byte, perm fs.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
