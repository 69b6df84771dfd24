package kvm

// The Windows syscall shim: SetupAPI for device nodes and monitor registry
// keys, hid.dll for HID collections. It collects windowsRecords and
// interprets nothing; decodeWindowsRecords (windows_records.go) does.

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"unsafe"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/registry"
)

func init() { systemWindowsCollector = collectSetupAPI }

var (
	modHID                   = windows.NewLazySystemDLL("hid.dll")
	procHidDGetPreparsedData = modHID.NewProc("HidD_GetPreparsedData")
	procHidDFreePreparsed    = modHID.NewProc("HidD_FreePreparsedData")
	procHidDGetManufacturer  = modHID.NewProc("HidD_GetManufacturerString")
	procHidDGetProduct       = modHID.NewProc("HidD_GetProductString")
	procHidDGetSerial        = modHID.NewProc("HidD_GetSerialNumberString")
	procHidPGetCaps          = modHID.NewProc("HidP_GetCaps")
	procHidPGetValueCaps     = modHID.NewProc("HidP_GetValueCaps")
	procHidPGetButtonCaps    = modHID.NewProc("HidP_GetButtonCaps")

	hidLoadOnce sync.Once
	hidLoadErr  error
)

// loadHID resolves every hid.dll procedure once, so that a missing one is
// an error instead of the panic LazyProc.Call raises.
func loadHID() error {
	hidLoadOnce.Do(func() {
		for _, p := range []*windows.LazyProc{
			procHidDGetPreparsedData, procHidDFreePreparsed, procHidDGetManufacturer, procHidDGetProduct,
			procHidDGetSerial, procHidPGetCaps, procHidPGetValueCaps, procHidPGetButtonCaps,
		} {
			if err := p.Find(); err != nil {
				hidLoadErr = fmt.Errorf("load hid.dll %s: %w", p.Name, err)
				return
			}
		}
	})
	return hidLoadErr
}

var (
	// GUID_DEVINTERFACE_HID
	guidDevInterfaceHID = windows.GUID{Data1: 0x4D1E55B2, Data2: 0xF16F, Data3: 0x11CF, Data4: [8]byte{0x88, 0xCB, 0x00, 0x11, 0x11, 0x00, 0x00, 0x30}}
	// GUID_DEVCLASS_MONITOR
	guidDevClassMonitor = windows.GUID{Data1: 0x4D36E96E, Data2: 0xE325, Data3: 0x11CE, Data4: [8]byte{0xBF, 0xC1, 0x08, 0x00, 0x2B, 0xE1, 0x03, 0x18}}
	// DEVPKEY_Device_Parent
	devpkeyParent = windows.DEVPROPKEY{
		FmtID: windows.DEVPROPGUID{Data1: 0x4340A6C5, Data2: 0x93FA, Data3: 0x4706, Data4: [8]byte{0x97, 0x2C, 0x7B, 0x64, 0x80, 0x08, 0xA5, 0xA7}},
		PID:   8,
	}
	// DEVPKEY_Device_BusReportedDeviceDesc
	devpkeyBusReportedDesc = windows.DEVPROPKEY{
		FmtID: windows.DEVPROPGUID{Data1: 0x540B947E, Data2: 0x8B40, Data3: 0x45BC, Data4: [8]byte{0xA8, 0xA2, 0x6A, 0x0B, 0x89, 0x4C, 0xBD, 0xA2}},
		PID:   4,
	}
)

const (
	hidpInput         = 0          // HIDP_REPORT_TYPE HidP_Input
	hidpStatusSuccess = 0x00110000 // HIDP_STATUS_SUCCESS
)

// hidpCaps is HIDP_CAPS (hidpi.h), 64 bytes.
type hidpCaps struct {
	Usage                     uint16
	UsagePage                 uint16
	InputReportByteLength     uint16
	OutputReportByteLength    uint16
	FeatureReportByteLength   uint16
	Reserved                  [17]uint16
	NumberLinkCollectionNodes uint16
	NumberInputButtonCaps     uint16
	NumberInputValueCaps      uint16
	NumberInputDataIndices    uint16
	NumberOutputButtonCaps    uint16
	NumberOutputValueCaps     uint16
	NumberOutputDataIndices   uint16
	NumberFeatureButtonCaps   uint16
	NumberFeatureValueCaps    uint16
	NumberFeatureDataIndices  uint16
}

// hidpValueCaps is HIDP_VALUE_CAPS, 72 bytes; the Range/NotRange union is
// read as Range (UsageMin = NotRange.Usage when IsRange is 0).
type hidpValueCaps struct {
	UsagePage         uint16
	ReportID          uint8
	IsAlias           uint8
	BitField          uint16
	LinkCollection    uint16
	LinkUsage         uint16
	LinkUsagePage     uint16
	IsRange           uint8
	IsStringRange     uint8
	IsDesignatorRange uint8
	IsAbsolute        uint8
	HasNull           uint8
	Reserved          uint8
	BitSize           uint16
	ReportCount       uint16
	Reserved2         [5]uint16
	UnitsExp          uint32
	Units             uint32
	LogicalMin        int32
	LogicalMax        int32
	PhysicalMin       int32
	PhysicalMax       int32
	UsageMin          uint16
	UsageMax          uint16
	StringMin         uint16
	StringMax         uint16
	DesignatorMin     uint16
	DesignatorMax     uint16
	DataIndexMin      uint16
	DataIndexMax      uint16
}

// hidpButtonCaps is HIDP_BUTTON_CAPS, 72 bytes, union read as Range.
type hidpButtonCaps struct {
	UsagePage         uint16
	ReportID          uint8
	IsAlias           uint8
	BitField          uint16
	LinkCollection    uint16
	LinkUsage         uint16
	LinkUsagePage     uint16
	IsRange           uint8
	IsStringRange     uint8
	IsDesignatorRange uint8
	IsAbsolute        uint8
	ReportCount       uint16
	Reserved2         uint16
	Reserved          [9]uint32
	UsageMin          uint16
	UsageMax          uint16
	StringMin         uint16
	StringMax         uint16
	DesignatorMin     uint16
	DesignatorMax     uint16
	DataIndexMin      uint16
	DataIndexMax      uint16
}

// The structures must match hidpi.h byte for byte.
var (
	_ [64 - unsafe.Sizeof(hidpCaps{})]struct{}
	_ [unsafe.Sizeof(hidpCaps{}) - 64]struct{}
	_ [72 - unsafe.Sizeof(hidpValueCaps{})]struct{}
	_ [unsafe.Sizeof(hidpValueCaps{}) - 72]struct{}
	_ [72 - unsafe.Sizeof(hidpButtonCaps{})]struct{}
	_ [unsafe.Sizeof(hidpButtonCaps{}) - 72]struct{}
)

// collectSetupAPI lists the present USB and HID device nodes and the
// present monitors. A source that fails is recorded in the records'
// errors; the others are still collected.
func collectSetupAPI(ctx context.Context) (*windowsRecords, error) {
	r := &windowsRecords{}
	if err := enumerateDevNodes(ctx, nil, "USB", windows.DIGCF_PRESENT|windows.DIGCF_ALLCLASSES, func(devs windows.DevInfo, data *windows.DevInfoData, id string) {
		r.USB = append(r.USB, windowsDevNode{
			InstanceID:             id,
			Parent:                 deviceStringProperty(devs, data, &devpkeyParent),
			HardwareIDs:            registryStrings(devs, data, windows.SPDRP_HARDWAREID),
			CompatibleIDs:          registryStrings(devs, data, windows.SPDRP_COMPATIBLEIDS),
			BusReportedDescription: deviceStringProperty(devs, data, &devpkeyBusReportedDesc),
			Location:               firstString(registryStrings(devs, data, windows.SPDRP_LOCATION_INFORMATION)),
		})
	}); err != nil {
		r.Errors = append(r.Errors, SourceError{Source: "setupapi USB", Error: err.Error()})
	}
	if err := loadHID(); err != nil {
		r.Errors = append(r.Errors, SourceError{Source: "hid.dll", Error: err.Error()})
	} else if err := enumerateDevNodes(ctx, nil, "HID", windows.DIGCF_PRESENT|windows.DIGCF_ALLCLASSES, func(devs windows.DevInfo, data *windows.DevInfoData, id string) {
		n := windowsHIDNode{InstanceID: id, Parent: deviceStringProperty(devs, data, &devpkeyParent)}
		if !strings.HasPrefix(strings.ToUpper(n.Parent), `USB\`) {
			return // HID over I2C, Bluetooth or a virtual bus: not a USB gadget
		}
		if err := readHIDNode(id, &n); err != nil {
			n.Error = err.Error()
		}
		r.HID = append(r.HID, n)
	}); err != nil {
		r.Errors = append(r.Errors, SourceError{Source: "setupapi HID", Error: err.Error()})
	}
	if err := enumerateDevNodes(ctx, &guidDevClassMonitor, "", windows.DIGCF_PRESENT, func(devs windows.DevInfo, data *windows.DevInfoData, id string) {
		m := windowsMonitor{InstanceID: id}
		edid, err := readMonitorEDID(devs, data)
		if err != nil {
			m.Error = err.Error()
		}
		m.EDID = hex.EncodeToString(edid)
		r.Monitors = append(r.Monitors, m)
	}); err != nil {
		r.Errors = append(r.Errors, SourceError{Source: "setupapi monitors", Error: err.Error()})
	}
	return r, nil
}

// enumerateDevNodes calls fn for each device node SetupDiGetClassDevsEx
// lists for class and enumerator.
func enumerateDevNodes(ctx context.Context, class *windows.GUID, enumerator string, flags windows.DIGCF, fn func(windows.DevInfo, *windows.DevInfoData, string)) error {
	devs, err := windows.SetupDiGetClassDevsEx(class, enumerator, 0, flags, 0, "")
	if err != nil {
		return fmt.Errorf("SetupDiGetClassDevsEx %q: %w", enumerator, err)
	}
	defer devs.Close()
	for i := 0; ; i++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		data, err := devs.EnumDeviceInfo(i)
		if errors.Is(err, windows.ERROR_NO_MORE_ITEMS) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("SetupDiEnumDeviceInfo %d: %w", i, err)
		}
		id, err := devs.DeviceInstanceID(data)
		if err != nil {
			return fmt.Errorf("SetupDiGetDeviceInstanceId %d: %w", i, err)
		}
		fn(devs, data, id)
	}
}

// registryStrings reads a REG_SZ or REG_MULTI_SZ device property; a
// property the device does not have reads as none.
func registryStrings(devs windows.DevInfo, data *windows.DevInfoData, prop windows.SPDRP) []string {
	v, err := devs.DeviceRegistryProperty(data, prop)
	if err != nil {
		return nil
	}
	switch t := v.(type) {
	case string:
		return []string{t}
	case []string:
		return t
	}
	return nil
}

func deviceStringProperty(devs windows.DevInfo, data *windows.DevInfoData, key *windows.DEVPROPKEY) string {
	v, err := windows.SetupDiGetDeviceProperty(devs, data, key)
	if err != nil {
		return ""
	}
	s, _ := v.(string)
	return s
}

func firstString(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

// readHIDNode opens the HID interface of a HID device node without
// access rights (enough for attributes, strings and preparsed data of
// keyboards and mice that the system holds open) and reads its strings
// and top-level collection.
func readHIDNode(instanceID string, n *windowsHIDNode) error {
	paths, err := windows.CM_Get_Device_Interface_List(instanceID, &guidDevInterfaceHID, windows.CM_GET_DEVICE_INTERFACE_LIST_PRESENT)
	if err != nil {
		// CONFIGRET's Error method needs CM_MapCrToWin32Err, which older
		// systems (and Wine) lack: report the code itself.
		var cr windows.CONFIGRET
		if errors.As(err, &cr) {
			return fmt.Errorf("CM_Get_Device_Interface_List: CONFIGRET 0x%x", uint32(cr))
		}
		return fmt.Errorf("CM_Get_Device_Interface_List: %w", err)
	}
	if len(paths) == 0 || paths[0] == "" {
		return errors.New("no HID device interface")
	}
	name, err := windows.UTF16PtrFromString(paths[0])
	if err != nil {
		return fmt.Errorf("HID interface path: %w", err)
	}
	h, err := windows.CreateFile(name, 0, windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE, nil, windows.OPEN_EXISTING, 0, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", paths[0], err)
	}
	defer windows.CloseHandle(h)
	// A device without a string descriptor fails these calls; that is an
	// absent string, not an error.
	n.Manufacturer = hidString(procHidDGetManufacturer, h)
	n.Product = hidString(procHidDGetProduct, h)
	n.Serial = hidString(procHidDGetSerial, h)
	c, err := readHIDCollection(h)
	if err != nil {
		return err
	}
	n.Collection = c
	return nil
}

func hidString(proc *windows.LazyProc, h windows.Handle) string {
	var buf [256]uint16
	if r, _, _ := proc.Call(uintptr(h), uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)*2)); r == 0 {
		return ""
	}
	return windows.UTF16ToString(buf[:])
}

// readHIDCollection reads the usage of the top-level collection and its
// input value and button capabilities.
func readHIDCollection(h windows.Handle) (*HIDCollection, error) {
	var pp uintptr
	if r, _, err := procHidDGetPreparsedData.Call(uintptr(h), uintptr(unsafe.Pointer(&pp))); r == 0 {
		return nil, fmt.Errorf("HidD_GetPreparsedData: %w", err)
	}
	defer procHidDFreePreparsed.Call(pp)
	var caps hidpCaps
	if st, _, _ := procHidPGetCaps.Call(pp, uintptr(unsafe.Pointer(&caps))); uint32(st) != hidpStatusSuccess {
		return nil, fmt.Errorf("HidP_GetCaps: status 0x%08x", uint32(st))
	}
	c := &HIDCollection{UsagePage: caps.UsagePage, Usage: caps.Usage}
	if n := caps.NumberInputValueCaps; n > 0 {
		vc := make([]hidpValueCaps, n)
		length := n
		if st, _, _ := procHidPGetValueCaps.Call(hidpInput, uintptr(unsafe.Pointer(&vc[0])), uintptr(unsafe.Pointer(&length)), pp); uint32(st) != hidpStatusSuccess {
			return nil, fmt.Errorf("HidP_GetValueCaps: status 0x%08x", uint32(st))
		}
		for _, v := range vc[:min(length, n)] {
			usageMax := v.UsageMax
			if v.IsRange == 0 {
				usageMax = v.UsageMin
			}
			c.Values = append(c.Values, HIDValue{
				UsagePage: v.UsagePage, UsageMin: v.UsageMin, UsageMax: usageMax,
				Absolute:   v.IsAbsolute != 0,
				LogicalMin: v.LogicalMin, LogicalMax: v.LogicalMax,
				BitSize: v.BitSize, Count: v.ReportCount, ReportID: v.ReportID,
			})
		}
	}
	if n := caps.NumberInputButtonCaps; n > 0 {
		bc := make([]hidpButtonCaps, n)
		length := n
		if st, _, _ := procHidPGetButtonCaps.Call(hidpInput, uintptr(unsafe.Pointer(&bc[0])), uintptr(unsafe.Pointer(&length)), pp); uint32(st) != hidpStatusSuccess {
			return nil, fmt.Errorf("HidP_GetButtonCaps: status 0x%08x", uint32(st))
		}
		for _, b := range bc[:min(length, n)] {
			usageMax := b.UsageMax
			if b.IsRange == 0 {
				usageMax = b.UsageMin
			}
			c.Buttons = append(c.Buttons, HIDButtons{UsagePage: b.UsagePage, UsageMin: b.UsageMin, UsageMax: usageMax, ReportID: b.ReportID})
		}
	}
	return c, nil
}

// readMonitorEDID reads Device Parameters\EDID of a monitor device node.
func readMonitorEDID(devs windows.DevInfo, data *windows.DevInfoData) ([]byte, error) {
	h, err := devs.OpenDevRegKey(data, windows.DICS_FLAG_GLOBAL, 0, windows.DIREG_DEV, windows.KEY_READ)
	if err != nil {
		return nil, fmt.Errorf("SetupDiOpenDevRegKey: %w", err)
	}
	k := registry.Key(h)
	defer k.Close()
	edid, _, err := k.GetBinaryValue("EDID")
	if errors.Is(err, registry.ErrNotExist) {
		return nil, nil // a monitor without EDID (Generic Non-PnP Monitor)
	}
	if err != nil {
		return nil, fmt.Errorf("read EDID value: %w", err)
	}
	return edid, nil
}
