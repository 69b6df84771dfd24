package transport

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// Files of the agent's state directory written by enrollment.
const (
	CertFileName       = "device.crt"
	CAFileName         = "collector-ca.pem"
	FleetKeyFileName   = "fleet.key"
	EnrollmentFileName = "enrollment.json"
)

// ErrNotEnrolled is returned when the state directory holds no enrollment.
var ErrNotEnrolled = errors.New("this device is not enrolled (run `farmwatch enroll --server URL --token TOKEN`)")

// Enrollment is what the agent keeps about its enrollment.
type Enrollment struct {
	Server     string    `json:"server"`
	DeviceID   string    `json:"device_id"`
	EnrolledAt time.Time `json:"enrolled_at"`
	// NotBefore/NotAfter bound the current client certificate.
	NotBefore time.Time `json:"not_before"`
	NotAfter  time.Time `json:"not_after"`
	RenewedAt time.Time `json:"renewed_at,omitempty"`
}

// RenewAt is two thirds into the certificate's lifetime.
func (e *Enrollment) RenewAt() time.Time {
	return e.NotBefore.Add(e.NotAfter.Sub(e.NotBefore) * 2 / 3)
}

// State is an agent state directory with its enrollment loaded.
type State struct {
	Dir        string
	Key        DeviceKey
	Enrollment Enrollment
	CA         *x509.CertPool
	CAPEM      []byte
	FleetKey   []byte
	Cert       tls.Certificate
}

// LoadState reads the enrollment from dir; ErrNotEnrolled when there is
// none.
func LoadState(dir string) (*State, error) {
	data, err := os.ReadFile(filepath.Join(dir, EnrollmentFileName))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotEnrolled
	}
	if err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	st := &State{Dir: dir}
	if err := json.Unmarshal(data, &st.Enrollment); err != nil {
		return nil, fmt.Errorf("state: %s: %w", EnrollmentFileName, err)
	}
	if st.Key, err = LoadKey(dir); err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	if st.Key.DeviceID() != st.Enrollment.DeviceID {
		return nil, fmt.Errorf("state: the device key (%s) is not the enrolled device (%s); enroll again", st.Key.DeviceID(), st.Enrollment.DeviceID)
	}
	if st.CAPEM, err = os.ReadFile(filepath.Join(dir, CAFileName)); err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	st.CA = x509.NewCertPool()
	if !st.CA.AppendCertsFromPEM(st.CAPEM) {
		return nil, fmt.Errorf("state: %s holds no certificate", CAFileName)
	}
	if err := st.loadCert(); err != nil {
		return nil, err
	}
	fk, err := os.ReadFile(filepath.Join(dir, FleetKeyFileName))
	if err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	if err := checkPrivate(filepath.Join(dir, FleetKeyFileName)); err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	if st.FleetKey, err = base64.StdEncoding.DecodeString(string(fk)); err != nil || len(st.FleetKey) < 16 {
		return nil, fmt.Errorf("state: %s is not a base64 key of at least 16 bytes", FleetKeyFileName)
	}
	return st, nil
}

func (st *State) loadCert() error {
	certPEM, err := os.ReadFile(filepath.Join(st.Dir, CertFileName))
	if err != nil {
		return fmt.Errorf("state: %w", err)
	}
	var c tls.Certificate
	for rest := certPEM; ; {
		var der []byte
		der, rest = nextCert(rest)
		if der == nil {
			break
		}
		c.Certificate = append(c.Certificate, der)
	}
	if len(c.Certificate) == 0 {
		return fmt.Errorf("state: %s holds no certificate", CertFileName)
	}
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		return fmt.Errorf("state: %s: %w", CertFileName, err)
	}
	if leaf.Subject.CommonName != st.Key.DeviceID() {
		return fmt.Errorf("state: %s is for %q, not this device %q", CertFileName, leaf.Subject.CommonName, st.Key.DeviceID())
	}
	c.PrivateKey = st.Key
	c.Leaf = leaf
	st.Cert = c
	return nil
}

// saveEnrollment writes the files of an enrollment or renewal answer.
func saveEnrollment(dir, server string, key DeviceKey, resp *EnrollResponse, now time.Time, renewal bool) (*Enrollment, error) {
	leafDER, _ := nextCert([]byte(resp.Certificate))
	if leafDER == nil {
		return nil, errors.New("enroll: the collector returned no certificate")
	}
	leaf, err := x509.ParseCertificate(leafDER)
	if err != nil {
		return nil, fmt.Errorf("enroll: certificate: %w", err)
	}
	if leaf.Subject.CommonName != key.DeviceID() || resp.DeviceID != key.DeviceID() {
		return nil, fmt.Errorf("enroll: the collector issued a certificate for %q, not %q", leaf.Subject.CommonName, key.DeviceID())
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(resp.CA)) {
		return nil, errors.New("enroll: the collector returned no CA certificate")
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		return nil, fmt.Errorf("enroll: the certificate does not chain to the returned CA: %w", err)
	}
	if fk, err := base64.StdEncoding.DecodeString(resp.FleetKey); err != nil || len(fk) < 16 {
		return nil, errors.New("enroll: the collector returned no usable fleet key")
	}
	e := Enrollment{Server: server, DeviceID: key.DeviceID(), EnrolledAt: now.UTC(), NotBefore: leaf.NotBefore.UTC(), NotAfter: leaf.NotAfter.UTC()}
	if renewal {
		if old, err := readEnrollment(dir); err == nil {
			e.EnrolledAt = old.EnrolledAt
		}
		e.RenewedAt = now.UTC()
	}
	data, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		return nil, err
	}
	// Certificate, CA and fleet key first; the enrollment file last, so a
	// crash in between leaves the previous enrollment usable.
	for _, f := range []struct {
		name string
		data []byte
		perm fs.FileMode
	}{
		{CertFileName, []byte(resp.Certificate), 0o644},
		{CAFileName, []byte(resp.CA), 0o644},
		{FleetKeyFileName, []byte(resp.FleetKey), 0o600},
		{EnrollmentFileName, append(data, '\n'), 0o644},
	} {
		if err := WriteFileAtomic(filepath.Join(dir, f.name), f.data, f.perm); err != nil {
			return nil, fmt.Errorf("enroll: %w", err)
		}
	}
	return &e, nil
}

func readEnrollment(dir string) (*Enrollment, error) {
	data, err := os.ReadFile(filepath.Join(dir, EnrollmentFileName))
	if err != nil {
		return nil, err
	}
	var e Enrollment
	return &e, json.Unmarshal(data, &e)
}
