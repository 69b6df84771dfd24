//go:build windows

package remoteaccess

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/registry"

	"github.com/farmwatch/farmwatch/detectors/inventory"
)

// windowsNative is the nativeSource of Windows builds. It only reads: the
// service control manager is opened for connect and enumerate, each service
// for query, and every registry key for query; none of it needs
// administrator rights.
type windowsNative struct{}

func newNativeSource() nativeSource { return windowsNative{} }

var _ nativeSource = windowsNative{}

// Services lists every Win32 service (own- and shared-process). A service
// whose configuration cannot be read is still listed with the name, display
// name and state the enumeration gave.
func (windowsNative) Services(ctx context.Context) ([]Service, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	scm, err := windows.OpenSCManager(nil, nil, windows.SC_MANAGER_CONNECT|windows.SC_MANAGER_ENUMERATE_SERVICE)
	if err != nil {
		return nil, fmt.Errorf("open service control manager: %w", err)
	}
	defer windows.CloseServiceHandle(scm)

	entries, err := enumServices(scm)
	if err != nil {
		return nil, err
	}
	var errs []error
	out := make([]Service, 0, len(entries))
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return out, errors.Join(append(errs, err)...)
		}
		s := Service{
			Name:        e.name,
			DisplayName: e.displayName,
			State:       serviceState(e.state),
			Kind:        "windows_service",
		}
		cfg, err := queryServiceConfig(scm, e.name)
		switch {
		case errors.Is(err, windows.ERROR_SERVICE_DOES_NOT_EXIST):
			continue // deleted since the enumeration
		case err != nil:
			errs = append(errs, fmt.Errorf("query config of service %s: %w", e.name, err))
		default:
			s.Path = cfg.path
			s.StartMode = startMode(cfg.startType)
			s.User = cfg.account
		}
		out = append(out, s)
	}
	return out, errors.Join(errs...)
}

type serviceEntry struct {
	name, displayName string
	state             uint32
}

// enumServices returns every Win32 service with its current state. Without
// a resume handle EnumServicesStatusEx reports the size of the whole list,
// so the buffer grows until the list fits (it can grow between calls).
func enumServices(scm windows.Handle) ([]serviceEntry, error) {
	var buf []byte
	for range 8 {
		var needed, count uint32
		var p *byte
		if len(buf) > 0 {
			p = &buf[0]
		}
		err := windows.EnumServicesStatusEx(scm, windows.SC_ENUM_PROCESS_INFO,
			windows.SERVICE_WIN32, windows.SERVICE_STATE_ALL,
			p, uint32(len(buf)), &needed, &count, nil, nil)
		if errors.Is(err, windows.ERROR_MORE_DATA) {
			buf = make([]byte, len(buf)+int(needed)+4096)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("enumerate services: %w", err)
		}
		if count == 0 {
			return nil, nil
		}
		raw := unsafe.Slice((*windows.ENUM_SERVICE_STATUS_PROCESS)(unsafe.Pointer(&buf[0])), count)
		out := make([]serviceEntry, 0, count)
		for _, r := range raw {
			out = append(out, serviceEntry{
				name:        windows.UTF16PtrToString(r.ServiceName),
				displayName: windows.UTF16PtrToString(r.DisplayName),
				state:       r.ServiceStatusProcess.CurrentState,
			})
		}
		return out, nil
	}
	return nil, errors.New("enumerate services: list kept growing")
}

type serviceConfig struct {
	path, account string
	startType     uint32
}

// queryServiceConfig opens one service for query only and reads its
// binary path, start type and account.
func queryServiceConfig(scm windows.Handle, name string) (serviceConfig, error) {
	namep, err := windows.UTF16PtrFromString(name)
	if err != nil {
		return serviceConfig{}, err
	}
	h, err := windows.OpenService(scm, namep, windows.SERVICE_QUERY_CONFIG|windows.SERVICE_QUERY_STATUS)
	if err != nil {
		return serviceConfig{}, fmt.Errorf("open: %w", err)
	}
	defer windows.CloseServiceHandle(h)

	n := uint32(1024)
	for range 8 {
		// QUERY_SERVICE_CONFIG holds pointers into the same buffer, so the
		// buffer is allocated with the struct's alignment.
		buf := make([]uint64, (n+7)/8)
		p := (*windows.QUERY_SERVICE_CONFIG)(unsafe.Pointer(&buf[0]))
		err := windows.QueryServiceConfig(h, p, uint32(len(buf)*8), &n)
		if errors.Is(err, windows.ERROR_INSUFFICIENT_BUFFER) {
			continue
		}
		if err != nil {
			return serviceConfig{}, err
		}
		return serviceConfig{
			path:      windows.UTF16PtrToString(p.BinaryPathName),
			account:   windows.UTF16PtrToString(p.ServiceStartName),
			startType: p.StartType,
		}, nil
	}
	return serviceConfig{}, errors.New("config kept growing")
}

// serviceState maps a SERVICE_* state onto the observation's vocabulary.
// A pending transition is named after where it is going.
func serviceState(s uint32) string {
	switch s {
	case windows.SERVICE_RUNNING:
		return "running"
	case windows.SERVICE_STOPPED:
		return "stopped"
	case windows.SERVICE_START_PENDING, windows.SERVICE_CONTINUE_PENDING:
		return "starting"
	case windows.SERVICE_STOP_PENDING:
		return "stopping"
	case windows.SERVICE_PAUSED, windows.SERVICE_PAUSE_PENDING:
		return "paused"
	}
	return "unknown"
}

// startMode maps a SERVICE_*_START type. Delayed auto-start is "auto".
func startMode(t uint32) string {
	switch t {
	case windows.SERVICE_AUTO_START:
		return "auto"
	case windows.SERVICE_DEMAND_START:
		return "manual"
	case windows.SERVICE_DISABLED:
		return "disabled"
	case windows.SERVICE_BOOT_START:
		return "boot"
	case windows.SERVICE_SYSTEM_START:
		return "system"
	}
	return ""
}

// uninstallPath is where uninstall entries live (read by the shared
// inventory package).
const uninstallPath = inventory.UninstallKeyPath

// Software lists uninstall entries through the shared inventory reader.
func (windowsNative) Software(ctx context.Context) ([]Software, error) {
	return inventory.WindowsSoftware(ctx)
}

const (
	tsKeyPath       = `SYSTEM\CurrentControlSet\Control\Terminal Server`
	rdpTcpKeyPath   = tsKeyPath + `\WinStations\RDP-Tcp`
	tsPolicyKeyPath = `SOFTWARE\Policies\Microsoft\Windows NT\Terminal Services`
	defaultRDPPort  = 3389
)

// Features reports the Remote Desktop host. fDenyTSConnections=0 enables
// it; the value absent means disabled (the Windows default). The group
// policy value, when set, overrides the local one.
func (windowsNative) Features(ctx context.Context) ([]Feature, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	deny, set, err := dwordValue(registry.LOCAL_MACHINE, tsKeyPath, "fDenyTSConnections")
	if err != nil {
		// Without the value it is unknown whether RDP is on: report no
		// feature rather than a guess.
		return nil, fmt.Errorf(`read HKLM\%s\fDenyTSConnections: %w`, tsKeyPath, err)
	}
	if !set {
		deny = 1
	}
	f := Feature{Name: "rdp", Source: `HKLM\` + tsKeyPath + `\fDenyTSConnections`}
	var errs []error
	var notes []string

	pdeny, pset, err := dwordValue(registry.LOCAL_MACHINE, tsPolicyKeyPath, "fDenyTSConnections")
	switch {
	case err != nil:
		errs = append(errs, fmt.Errorf(`read HKLM\%s\fDenyTSConnections: %w`, tsPolicyKeyPath, err))
	case pset:
		deny = pdeny
		f.Source = `HKLM\` + tsPolicyKeyPath + `\fDenyTSConnections`
		notes = append(notes, "set by group policy")
	case !set:
		notes = append(notes, "fDenyTSConnections not set (default: disabled)")
	}
	f.Enabled = deny == 0

	port, pset, err := dwordValue(registry.LOCAL_MACHINE, rdpTcpKeyPath, "PortNumber")
	if err != nil {
		errs = append(errs, fmt.Errorf(`read HKLM\%s\PortNumber: %w`, rdpTcpKeyPath, err))
	}
	if err != nil || !pset {
		port = defaultRDPPort
	}
	f.Detail = strings.Join(append([]string{fmt.Sprintf("port %d", port)}, notes...), ", ")
	return []Feature{f}, errors.Join(errs...)
}

// dwordValue reads a REG_DWORD/REG_QWORD value from the 64-bit view; set is
// false when the key or the value does not exist.
func dwordValue(root registry.Key, path, name string) (v uint64, set bool, err error) {
	k, err := registry.OpenKey(root, path, registry.QUERY_VALUE|registry.WOW64_64KEY)
	if errors.Is(err, registry.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	defer k.Close()
	v, _, err = k.GetIntegerValue(name)
	if errors.Is(err, registry.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	return v, true, nil
}

// WTS_INFO_CLASS values and WTSClientProtocolType results (wtsapi32.h).
const (
	wtsUserName           = 5
	wtsDomainName         = 7
	wtsClientName         = 10
	wtsClientAddress      = 14
	wtsClientProtocolType = 16

	wtsProtocolRDP = 2

	afINET  = 2
	afINET6 = 23
)

var (
	modwtsapi32                     = windows.NewLazySystemDLL("wtsapi32.dll")
	procWTSQuerySessionInformationW = modwtsapi32.NewProc("WTSQuerySessionInformationW")
)

// Sessions lists the Remote Desktop sessions that are active, connected or
// disconnected (a disconnected RDP session is a remote logon still alive).
// Console and services sessions are left out.
func (windowsNative) Sessions(ctx context.Context) ([]Session, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := procWTSQuerySessionInformationW.Find(); err != nil {
		return nil, fmt.Errorf("load WTSQuerySessionInformationW: %w", err)
	}
	var info *windows.WTS_SESSION_INFO
	var count uint32
	if err := windows.WTSEnumerateSessions(0, 0, 1, &info, &count); err != nil {
		return nil, fmt.Errorf("enumerate sessions: %w", err)
	}
	defer windows.WTSFreeMemory(uintptr(unsafe.Pointer(info)))

	var out []Session
	var errs []error
	for _, si := range unsafe.Slice(info, count) {
		if err := ctx.Err(); err != nil {
			return out, errors.Join(append(errs, err)...)
		}
		state := sessionState(si.State)
		if state == "" {
			continue
		}
		station := windows.UTF16PtrToString(si.WindowStationName)
		rdp, err := isRDPSession(si.SessionID, station)
		if err != nil {
			errs = append(errs, fmt.Errorf("query protocol of session %d: %w", si.SessionID, err))
			continue
		}
		if !rdp {
			continue
		}
		s := Session{Protocol: "rdp", State: state, ID: strconv.FormatUint(uint64(si.SessionID), 10)}
		s.User, err = sessionUser(si.SessionID)
		if err != nil {
			errs = append(errs, fmt.Errorf("query user of session %d: %w", si.SessionID, err))
		}
		s.Client, err = sessionClient(si.SessionID)
		if err != nil {
			errs = append(errs, fmt.Errorf("query client of session %d: %w", si.SessionID, err))
		}
		out = append(out, s)
	}
	return out, errors.Join(errs...)
}

// sessionState names the states listed; "" for the rest (listeners, idle,
// down, initialising).
func sessionState(s uint32) string {
	switch s {
	case windows.WTSActive:
		return "active"
	case windows.WTSConnected:
		return "connected"
	case windows.WTSDisconnected:
		return "disconnected"
	}
	return ""
}

// isRDPSession asks for the client protocol; if the query fails, a window
// station named "RDP-Tcp#…" still identifies an RDP session.
func isRDPSession(id uint32, station string) (bool, error) {
	b, err := querySession(id, wtsClientProtocolType)
	if err != nil {
		if strings.HasPrefix(strings.ToLower(station), "rdp-tcp#") {
			return true, nil
		}
		return false, err
	}
	if len(b) < 2 {
		return false, fmt.Errorf("protocol type: %d bytes", len(b))
	}
	return binary.LittleEndian.Uint16(b) == wtsProtocolRDP, nil
}

// sessionUser returns DOMAIN\user, or user alone when there is no domain.
func sessionUser(id uint32) (string, error) {
	b, err := querySession(id, wtsUserName)
	if err != nil {
		return "", err
	}
	user := utf16String(b)
	if user == "" {
		return "", nil
	}
	if b, err := querySession(id, wtsDomainName); err == nil {
		if d := utf16String(b); d != "" {
			return d + `\` + user, nil
		}
	}
	return user, nil
}

// sessionClient returns the client's name and the address it reported, as
// "NAME (203.0.113.7)", or whichever of the two is known.
func sessionClient(id uint32) (string, error) {
	var errs []error
	var name, addr string
	if b, err := querySession(id, wtsClientName); err != nil {
		errs = append(errs, fmt.Errorf("client name: %w", err))
	} else {
		name = utf16String(b)
	}
	if b, err := querySession(id, wtsClientAddress); err != nil {
		errs = append(errs, fmt.Errorf("client address: %w", err))
	} else {
		addr = clientAddress(b)
	}
	return joinClient(name, addr), errors.Join(errs...)
}

func joinClient(name, addr string) string {
	switch {
	case name != "" && addr != "":
		return name + " (" + addr + ")"
	case name != "":
		return name
	}
	return addr
}

// clientAddress decodes a WTS_CLIENT_ADDRESS {DWORD AddressFamily; BYTE
// Address[20]}. IPv4 sits at Address[2:6]; IPv6, as documented, from
// Address[0]. Other families (and AF_UNSPEC) give "".
func clientAddress(b []byte) string {
	if len(b) < 24 {
		return ""
	}
	family, a := binary.LittleEndian.Uint32(b[:4]), b[4:24]
	switch family {
	case afINET:
		return netip.AddrFrom4([4]byte(a[2:6])).String()
	case afINET6:
		return netip.AddrFrom16([16]byte(a[0:16])).String()
	}
	return ""
}

// querySession calls WTSQuerySessionInformationW on the local server and
// returns a copy of the buffer it allocated, which is freed here.
func querySession(id, class uint32) ([]byte, error) {
	var buf *byte
	var n uint32
	r, _, e := procWTSQuerySessionInformationW.Call(0, // WTS_CURRENT_SERVER_HANDLE
		uintptr(id), uintptr(class), uintptr(unsafe.Pointer(&buf)), uintptr(unsafe.Pointer(&n)))
	if r == 0 {
		if errno, ok := e.(windows.Errno); ok && errno != 0 {
			return nil, errno
		}
		return nil, errors.New("WTSQuerySessionInformationW failed")
	}
	if buf == nil {
		return nil, nil
	}
	defer windows.WTSFreeMemory(uintptr(unsafe.Pointer(buf)))
	return append([]byte(nil), unsafe.Slice(buf, n)...), nil
}

// utf16String decodes a NUL-terminated UTF-16LE string held in bytes.
func utf16String(b []byte) string {
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return windows.UTF16ToString(u)
}
