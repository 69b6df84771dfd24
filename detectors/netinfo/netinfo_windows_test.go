package netinfo

import (
	"testing"
	"unsafe"

	"golang.org/x/sys/windows"
)

// TestWindowsLayouts pins the structure sizes windows_rows.go decodes to
// the ones the compiler gives x/sys's declarations.
func TestWindowsLayouts(t *testing.T) {
	if s := unsafe.Sizeof(windows.MibIpForwardRow2{}); s != ipForwardRow2Size {
		t.Errorf("MIB_IPFORWARD_ROW2 is %d bytes, decoder assumes %d", s, ipForwardRow2Size)
	}
	if s := unsafe.Offsetof(windows.MibIpForwardTable2{}.Table); s != mibTableHeader {
		t.Errorf("MIB_IPFORWARD_TABLE2 rows start at %d, decoder assumes %d", s, mibTableHeader)
	}
	if s := unsafe.Sizeof(windows.RawSockaddrInet6{}); s != sockaddrInetSize {
		t.Errorf("SOCKADDR_INET is %d bytes, decoder assumes %d", s, sockaddrInetSize)
	}
	var r windows.MibIpForwardRow2
	if o := unsafe.Offsetof(r.NextHop); o != 44 {
		t.Errorf("NextHop at %d, decoder assumes 44", o)
	}
	if o := unsafe.Offsetof(r.Metric); o != 84 {
		t.Errorf("Metric at %d, decoder assumes 84", o)
	}
}
