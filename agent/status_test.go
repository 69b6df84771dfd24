package agent

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/farmwatch/farmwatch/detectors"
	"github.com/farmwatch/farmwatch/transport"
)

func TestStatusBookRecords(t *testing.T) {
	t.Parallel()
	var b statusBook
	t0 := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	res := &ScanResult{Findings: []detectors.Finding{{Rule: "kvm.x"}}, Detectors: []detectors.RunResult{{Name: "kvm", Status: detectors.StatusOK}}}
	b.recordCheck(t0, res, nil)
	b.recordCheck(t0.Add(time.Minute), nil, errors.New("config: bad policy"))
	if b.lastCheck != t0.Add(time.Minute) || b.lastCheckErr != "config: bad policy" || len(b.findings) != 1 || len(b.runs) != 1 {
		t.Errorf("a failed check without a result kept %+v", &b)
	}
	b.recordDelivery(t0, nil)
	b.recordDelivery(t0.Add(time.Minute), fmt.Errorf("send: %w", context.Canceled))
	if b.lastAttempt != t0 || b.lastDeliveryErr != "" {
		t.Errorf("shutdown counted as an attempt: %+v", &b)
	}
	b.recordDelivery(t0.Add(2*time.Minute), errors.Join(transport.ErrPermanent, &transport.HTTPError{Status: 403, Reason: "revoked"}))
	if !b.refused || b.lastDelivery != t0 || b.lastAttempt != t0.Add(2*time.Minute) {
		t.Errorf("refusal: %+v", &b)
	}
	b.recordDelivery(t0.Add(3*time.Minute), errors.New("dial tcp: timeout"))
	if b.refused || b.lastDeliveryErr != "dial tcp: timeout" {
		t.Errorf("network error: %+v", &b)
	}
}
