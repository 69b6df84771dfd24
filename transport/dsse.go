package transport

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"
)

// Envelope is a DSSE envelope ({payloadType, payload, signatures}).
type Envelope = dsse.Envelope

// ecdsaDSSE adapts an ECDSA key to DSSE signing and verification
// (ASN.1 signatures over SHA-256 of the PAE encoding).
type ecdsaDSSE struct {
	signer crypto.Signer // nil for a verifier
	pub    *ecdsa.PublicKey
	keyID  string
}

func (e *ecdsaDSSE) Sign(_ context.Context, data []byte) ([]byte, error) {
	if e.signer == nil {
		return nil, errors.New("dsse: verification-only key")
	}
	h := sha256.Sum256(data)
	return e.signer.Sign(rand.Reader, h[:], crypto.SHA256)
}

func (e *ecdsaDSSE) Verify(_ context.Context, data, sig []byte) error {
	h := sha256.Sum256(data)
	if !ecdsa.VerifyASN1(e.pub, h[:], sig) {
		return errors.New("dsse: signature does not verify")
	}
	return nil
}

func (e *ecdsaDSSE) KeyID() (string, error)   { return e.keyID, nil }
func (e *ecdsaDSSE) Public() crypto.PublicKey { return e.pub }

// SignReport marshals r and wraps it in a DSSE envelope signed by key.
// The envelope's keyid is the device id.
func SignReport(ctx context.Context, key DeviceKey, r *Report) (*Envelope, error) {
	if r.Schema == "" {
		r.Schema = ReportSchema
	}
	if r.DeviceID != key.DeviceID() {
		return nil, fmt.Errorf("sign report: report of %q signed by %q", r.DeviceID, key.DeviceID())
	}
	body, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("sign report: %w", err)
	}
	return SignPayload(ctx, key, ReportPayloadType, body)
}

// SignPayload signs body of payloadType with key.
func SignPayload(ctx context.Context, key DeviceKey, payloadType string, body []byte) (*Envelope, error) {
	pub, ok := key.Public().(*ecdsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("sign: device key is %T, want ECDSA", key.Public())
	}
	s, err := dsse.NewEnvelopeSigner(&ecdsaDSSE{signer: key, pub: pub, keyID: key.DeviceID()})
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	env, err := s.SignPayload(ctx, payloadType, body)
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	return env, nil
}

// Verification errors, distinguishable so the collector can count
// rejections by reason.
var (
	ErrPayloadType  = errors.New("payload type is not a farmwatch report")
	ErrBadSignature = errors.New("signature does not verify with the device key")
)

// VerifyEnvelope checks env's signature with pub and the payload type,
// and returns the payload. The type is part of the signed PAE encoding,
// and it is checked here against ReportPayloadType as well.
func VerifyEnvelope(ctx context.Context, env *Envelope, pub *ecdsa.PublicKey, keyID string) ([]byte, error) {
	if env == nil {
		return nil, errors.New("verify: no envelope")
	}
	if env.PayloadType != ReportPayloadType {
		return nil, fmt.Errorf("verify: %w: %q", ErrPayloadType, env.PayloadType)
	}
	v, err := dsse.NewEnvelopeVerifier(&ecdsaDSSE{pub: pub, keyID: keyID})
	if err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	_, body, err := v.VerifyAndDecode(ctx, env)
	if err != nil {
		if errors.Is(err, dsse.ErrNoSignature) {
			return nil, fmt.Errorf("verify: %w: no signature", ErrBadSignature)
		}
		return nil, fmt.Errorf("verify: %w (%v)", ErrBadSignature, err)
	}
	return body, nil
}
