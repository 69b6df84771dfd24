package localapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"
)

// dialFunc connects to one channel of the endpoint.
type dialFunc func(ctx context.Context) (net.Conn, error)

// maxAnswer bounds what the client reads from the service.
const maxAnswer = 1 << 20

// requestTimeout bounds one call when the caller's context has no
// earlier deadline.
const requestTimeout = 15 * time.Second

// Client calls the local API of the farmwatch service. It holds no
// credentials: the operating system identifies the caller.
type Client struct {
	endpoint    string
	read, admin *http.Client
	sameChannel bool
}

// NewClient returns a client of the service listening at endpoint (see
// DefaultEndpoint).
func NewClient(endpoint string) *Client {
	rd, ad := dialers(endpoint)
	mk := func(d dialFunc) *http.Client {
		return &http.Client{Transport: &http.Transport{
			DialContext:            func(ctx context.Context, _, _ string) (net.Conn, error) { return d(ctx) },
			DisableKeepAlives:      true,
			ResponseHeaderTimeout:  requestTimeout,
			MaxResponseHeaderBytes: 16 << 10,
		}}
	}
	c := &Client{endpoint: endpoint, read: mk(rd)}
	if endpointIsPipe(endpoint) {
		c.admin = mk(ad)
	} else {
		c.admin, c.sameChannel = c.read, true
	}
	return c
}

func endpointIsPipe(endpoint string) bool { return len(endpoint) > 9 && endpoint[:9] == `\\.\pipe\` }

// Endpoint is where the client connects.
func (c *Client) Endpoint() string { return c.endpoint }

// Status returns the service's status for this caller. On Windows it asks
// through the admin pipe when the caller may open it, so that
// CanCheckNow is true for administrators of an enrolled device.
func (c *Client) Status(ctx context.Context) (*Status, error) {
	var s Status
	err := ErrForbidden
	if !c.sameChannel {
		err = c.do(ctx, c.admin, http.MethodGet, PathStatus, &s)
	}
	if errors.Is(err, ErrForbidden) {
		err = c.do(ctx, c.read, http.MethodGet, PathStatus, &s)
	}
	if err != nil {
		return nil, err
	}
	return &s, nil
}

// LastScan returns the last check's findings in plain words.
func (c *Client) LastScan(ctx context.Context) (*LastScan, error) {
	var v LastScan
	if err := c.do(ctx, c.read, http.MethodGet, PathScan, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// Connection returns the state of the link to the collector.
func (c *Client) Connection(ctx context.Context) (*Connection, error) {
	var v Connection
	if err := c.do(ctx, c.read, http.MethodGet, PathConnection, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// Queue returns the outbound queue's figures.
func (c *Client) Queue(ctx context.Context) (*Queue, error) {
	var v Queue
	if err := c.do(ctx, c.read, http.MethodGet, PathQueue, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// Collected returns what farmwatch looks at and why.
func (c *Client) Collected(ctx context.Context) (*Collected, error) {
	var v Collected
	if err := c.do(ctx, c.read, http.MethodGet, PathCollected, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// CheckNow asks the service for a check now; errors.Is(err, ErrForbidden)
// when the caller is not an administrator.
func (c *Client) CheckNow(ctx context.Context) error {
	var v CheckAccepted
	return c.do(ctx, c.admin, http.MethodPost, PathCheck, &v)
}

func (c *Client) do(ctx context.Context, hc *http.Client, method, path string, out any) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, requestTimeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://farmwatch.local"+path, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		for _, known := range []error{ErrNotRunning, ErrForbidden} {
			if errors.Is(err, known) {
				return dialError(err)
			}
		}
		return fmt.Errorf("local API %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	if err != nil {
		return fmt.Errorf("local API %s %s: read answer: %w", method, path, err)
	}
	if len(data) > maxAnswer {
		return fmt.Errorf("local API %s %s: answer over %d bytes", method, path, maxAnswer)
	}
	if resp.StatusCode/100 != 2 {
		var ae apiError
		_ = json.Unmarshal(data, &ae) // a non-JSON error body leaves the status text
		msg := ae.Error
		if msg == "" {
			msg = http.StatusText(resp.StatusCode)
		}
		if resp.StatusCode == http.StatusForbidden {
			return fmt.Errorf("%w: %s", ErrForbidden, msg)
		}
		return fmt.Errorf("local API %s %s: %d: %s", method, path, resp.StatusCode, msg)
	}
	if err := json.NewDecoder(bytes.NewReader(data)).Decode(out); err != nil {
		return fmt.Errorf("local API %s %s: answer: %w", method, path, err)
	}
	return nil
}

// dialError unwraps the transport's *url.Error around a dial error that
// already says what happened ("the farmwatch service is not running (…)").
func dialError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
