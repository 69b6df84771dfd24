package netinfo

// The Windows syscall shim: IP Helper (GetAdaptersAddresses,
// GetIpForwardTable2, GetIpNetTable2) and Native Wi-Fi (wlanapi.dll). It
// copies what the APIs return into byte slices and records and
// interprets nothing; windows_rows.go does.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"unsafe"

	"go.uber.org/zap"
	"golang.org/x/sys/windows"

	"github.com/farmwatch/farmwatch/detectors"
)

func init() {
	windowsSystem = platform{
		interfaces: windowsInterfaces,
		gateway:    windowsGateway,
		neighbours: windowsNeighbours,
		wifi:       windowsWiFi,
	}
}

var (
	modIphlpapi        = windows.NewLazySystemDLL("iphlpapi.dll")
	procGetIpNetTable2 = modIphlpapi.NewProc("GetIpNetTable2")

	modWlanapi              = windows.NewLazySystemDLL("wlanapi.dll")
	procWlanOpenHandle      = modWlanapi.NewProc("WlanOpenHandle")
	procWlanCloseHandle     = modWlanapi.NewProc("WlanCloseHandle")
	procWlanEnumInterfaces  = modWlanapi.NewProc("WlanEnumInterfaces")
	procWlanQueryInterface  = modWlanapi.NewProc("WlanQueryInterface")
	procWlanFreeMemory      = modWlanapi.NewProc("WlanFreeMemory")
	wlanLoadOnce            sync.Once
	wlanLoadErr             error
	wlanIntfOpcodeCurrConn  = uintptr(7) // wlan_intf_opcode_current_connection
	wlanClientVersionVista  = uintptr(2)
	errorServiceNotActive   = windows.Errno(1062) // ERROR_SERVICE_NOT_ACTIVE: WLAN AutoConfig stopped
	errorWlanNotConnected   = windows.Errno(0x80342002)
	errorInvalidState       = windows.Errno(5023) // ERROR_INVALID_STATE: interface not connected
	gaaFlags                = uint32(windows.GAA_FLAG_SKIP_ANYCAST | windows.GAA_FLAG_SKIP_MULTICAST | windows.GAA_FLAG_SKIP_DNS_SERVER)
	afUnspec, afInet, afIn6 = uint32(windows.AF_UNSPEC), uint16(windows.AF_INET), uint16(windows.AF_INET6)
)

// loadWlan resolves every wlanapi.dll procedure once, so that a missing
// DLL (Server Core without the Wireless LAN feature) is an answer instead
// of the panic LazyProc.Call raises.
func loadWlan() error {
	wlanLoadOnce.Do(func() {
		for _, p := range []*windows.LazyProc{procWlanOpenHandle, procWlanCloseHandle, procWlanEnumInterfaces, procWlanQueryInterface, procWlanFreeMemory} {
			if err := p.Find(); err != nil {
				wlanLoadErr = fmt.Errorf("load wlanapi.dll %s: %w", p.Name, err)
				return
			}
		}
	})
	return wlanLoadErr
}

// adapters reads GetAdaptersAddresses into records.
func adapters() ([]adapterRecord, error) {
	size := uint32(15 << 10)
	for range 5 {
		buf := make([]byte, size)
		first := (*windows.IpAdapterAddresses)(unsafe.Pointer(&buf[0]))
		err := windows.GetAdaptersAddresses(afUnspec, gaaFlags, 0, first, &size)
		if errors.Is(err, windows.ERROR_BUFFER_OVERFLOW) {
			continue
		}
		if errors.Is(err, windows.ERROR_NO_DATA) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("GetAdaptersAddresses: %w", err)
		}
		var out []adapterRecord
		for a := first; a != nil; a = a.Next {
			r := adapterRecord{
				FriendlyName: windows.UTF16PtrToString(a.FriendlyName),
				AdapterName:  windows.BytePtrToString(a.AdapterName),
				Index:        a.IfIndex,
				IfType:       a.IfType,
				Description:  windows.UTF16PtrToString(a.Description),
				OperStatus:   a.OperStatus,
			}
			if r.Index == 0 {
				r.Index = a.Ipv6IfIndex
			}
			if n := a.PhysicalAddressLength; n > 0 && int(n) <= len(a.PhysicalAddress) {
				r.MAC = append([]byte(nil), a.PhysicalAddress[:n]...)
			}
			for u := a.FirstUnicastAddress; u != nil; u = u.Next {
				sa := u.Address
				if sa.Sockaddr == nil || sa.SockaddrLength <= 0 {
					continue
				}
				r.Unicast = append(r.Unicast, unicastRecord{
					Sockaddr:     append([]byte(nil), unsafe.Slice((*byte)(unsafe.Pointer(sa.Sockaddr)), sa.SockaddrLength)...),
					PrefixLength: u.OnLinkPrefixLength,
				})
			}
			out = append(out, r)
		}
		return out, nil
	}
	return nil, fmt.Errorf("GetAdaptersAddresses: buffer of %d bytes still too small", size)
}

// adapterNames maps interface indexes to friendly names.
func adapterNames() (map[uint32]string, error) {
	ads, err := adapters()
	if err != nil {
		return nil, err
	}
	m := make(map[uint32]string, len(ads))
	for _, a := range ads {
		m[a.Index] = a.FriendlyName
	}
	return m, nil
}

func windowsInterfaces(ctx context.Context, h *detectors.Host) ([]Interface, error) {
	ads, err := adapters()
	if err != nil {
		return nil, err
	}
	return interfacesFromAdapters(ads)
}

func windowsGateway(ctx context.Context, h *detectors.Host) (Gateway, error) {
	var tbl *windows.MibIpForwardTable2
	if err := windows.GetIpForwardTable2(afInet, &tbl); err != nil {
		return Gateway{}, fmt.Errorf("GetIpForwardTable2: %w", err)
	}
	raw := copyTable(unsafe.Pointer(tbl), ipForwardRow2Size)
	windows.FreeMibTable(unsafe.Pointer(tbl))
	rows, derr := decodeIPForwardTable2(raw)
	names, err := adapterNames()
	if err != nil {
		return Gateway{}, err
	}
	gw, err := gatewayFromForward(rows, names)
	if err != nil {
		return Gateway{}, errors.Join(err, derr)
	}
	return gw, derr
}

func windowsNeighbours(ctx context.Context, h *detectors.Host) ([]Neighbour, error) {
	names, err := adapterNames()
	if err != nil {
		return nil, err
	}
	var (
		out  []Neighbour
		errs []error
	)
	// AF_UNSPEC would do both at once, but Wine answers it with
	// ERROR_INVALID_FUNCTION: ask per family.
	for _, fam := range []uint16{afInet, afIn6} {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		var tbl unsafe.Pointer
		if err := procGetIpNetTable2.Find(); err != nil {
			return nil, fmt.Errorf("load iphlpapi.dll GetIpNetTable2: %w", err)
		}
		r, _, _ := procGetIpNetTable2.Call(uintptr(fam), uintptr(unsafe.Pointer(&tbl)))
		if r != 0 {
			if e := windows.Errno(r); fam == afIn6 && (e == windows.ERROR_NOT_SUPPORTED || e == windows.ERROR_NOT_FOUND || e == windows.ERROR_INVALID_FUNCTION) {
				// IPv6 is not installed, or (Wine) the IPv6 table is
				// not implemented: IPv4 neighbours only.
				logger(h).Debug("no IPv6 neighbour table", zap.Error(e))
				continue
			}
			errs = append(errs, fmt.Errorf("GetIpNetTable2(family %d): %w", fam, windows.Errno(r)))
			continue
		}
		raw := copyTable(tbl, ipNetRow2Size)
		windows.FreeMibTable(tbl)
		rows, derr := decodeIPNetTable2(raw)
		errs = append(errs, derr)
		out = append(out, neighboursFromIPNet(rows, names)...)
	}
	return out, errors.Join(errs...)
}

// copyTable copies a MIB_*_TABLE2 (NumEntries and its rows) out of the
// memory the API allocated.
func copyTable(p unsafe.Pointer, rowSize int) []byte {
	if p == nil {
		return nil
	}
	n := *(*uint32)(p)
	return append([]byte(nil), unsafe.Slice((*byte)(p), mibTableHeader+int(n)*rowSize)...)
}

func windowsWiFi(ctx context.Context, h *detectors.Host) (WiFiStatus, error) {
	if err := loadWlan(); err != nil {
		return WiFiStatus{Reason: fmt.Sprintf("no Wi-Fi stack: %v", err)}, nil
	}
	var negotiated uint32
	var wh windows.Handle
	if r, _, _ := procWlanOpenHandle.Call(wlanClientVersionVista, 0, uintptr(unsafe.Pointer(&negotiated)), uintptr(unsafe.Pointer(&wh))); r != 0 {
		if windows.Errno(r) == errorServiceNotActive {
			return WiFiStatus{Reason: "the WLAN AutoConfig service is not running"}, nil
		}
		return WiFiStatus{}, fmt.Errorf("WlanOpenHandle: %w", windows.Errno(r))
	}
	defer procWlanCloseHandle.Call(uintptr(wh), 0)

	var list unsafe.Pointer
	if r, _, _ := procWlanEnumInterfaces.Call(uintptr(wh), 0, uintptr(unsafe.Pointer(&list))); r != 0 {
		return WiFiStatus{}, fmt.Errorf("WlanEnumInterfaces: %w", windows.Errno(r))
	}
	n := *(*uint32)(list)
	raw := append([]byte(nil), unsafe.Slice((*byte)(list), wlanIfListHeader+int(n)*wlanIfInfoSize)...)
	procWlanFreeMemory.Call(uintptr(list))
	ifaces, err := decodeWlanInterfaceList(raw)
	if err != nil {
		return WiFiStatus{}, err
	}

	conns := map[string]wlanConnection{}
	for i, w := range ifaces {
		if err := ctx.Err(); err != nil {
			return WiFiStatus{}, err
		}
		if w.State != wlanInterfaceStateConnected {
			continue
		}
		guid := (*windows.GUID)(unsafe.Pointer(&raw[wlanIfListHeader+i*wlanIfInfoSize]))
		var (
			size uint32
			data unsafe.Pointer
		)
		r, _, _ := procWlanQueryInterface.Call(uintptr(wh), uintptr(unsafe.Pointer(guid)), wlanIntfOpcodeCurrConn, 0,
			uintptr(unsafe.Pointer(&size)), uintptr(unsafe.Pointer(&data)), 0)
		switch windows.Errno(r) {
		case 0:
		case windows.ERROR_ACCESS_DENIED:
			// Windows 11 24H2 and later: SSID and BSSID are location data,
			// given only with the user's location consent.
			return WiFiStatus{Reason: "Windows refused the Wi-Fi connection attributes (access denied): location access is not granted to this program"}, nil
		case errorInvalidState, errorWlanNotConnected:
			continue // disconnected between the two calls
		default:
			return WiFiStatus{}, fmt.Errorf("WlanQueryInterface(%s): %w", w.GUID, windows.Errno(r))
		}
		attr := append([]byte(nil), unsafe.Slice((*byte)(data), size)...)
		procWlanFreeMemory.Call(uintptr(data))
		c, err := decodeWlanConnection(attr)
		if err != nil {
			return WiFiStatus{}, fmt.Errorf("interface %s: %w", w.GUID, err)
		}
		conns[w.GUID] = c
	}

	names := map[string]string{}
	if len(conns) > 0 {
		ads, err := adapters()
		if err != nil {
			return WiFiStatus{}, err
		}
		for _, a := range ads {
			names[strings.ToUpper(a.AdapterName)] = a.FriendlyName
		}
	}
	return wifiFromWlan(ifaces, conns, names), nil
}
