package kvm

import (
	"errors"
	"fmt"
)

// HID usage pages and usages this package reasons about (HID Usage Tables
// 1.5: Generic Desktop 0x01, Keyboard/Keypad 0x07, Button 0x09, Digitizers
// 0x0D).
const (
	pageGenericDesktop = 0x01
	pageKeyboard       = 0x07
	pageDigitizer      = 0x0D

	usageGDPointer  = 0x01
	usageGDMouse    = 0x02
	usageGDKeyboard = 0x06
	usageGDKeypad   = 0x07
	usageGDX        = 0x30
	usageGDY        = 0x31

	usageDigitizer   = 0x01
	usageDigPen      = 0x02
	usageDigTouchScr = 0x04
	usageDigTouchPad = 0x05
)

// Limits that keep a hostile descriptor from costing more than a real one
// ever does. Real descriptors are a few hundred bytes, nest collections a
// few levels deep and push the global state once or twice.
const (
	maxDescriptorLen  = 64 << 10
	maxCollectionNest = 32
	maxGlobalStack    = 16
	maxLocalUsages    = 256
)

// Usage is a HID usage: page and id.
type Usage struct {
	Page uint16
	ID   uint16
}

// ReportDescriptor is what ParseHIDReportDescriptor makes of a HID report
// descriptor: its top-level (application) collections with their input
// fields. Output and feature items are not kept; they say nothing about
// what the device sends to the host.
type ReportDescriptor struct {
	Applications []Application
}

// Application is a top-level collection, e.g. Generic Desktop / Mouse.
type Application struct {
	Usage Usage
	// Inputs are the Input main items inside the collection, nested
	// collections flattened.
	Inputs []InputField
}

// InputField is one Input main item with the global and local state in
// effect for it.
type InputField struct {
	ReportID    uint8
	Constant    bool // padding, not data
	Variable    bool // one field per usage (else an array of usages)
	Relative    bool // deltas (else absolute positions)
	LogicalMin  int64
	LogicalMax  int64
	ReportSize  uint32
	ReportCount uint32
	// Usages are the usages named one by one; UsageMin..UsageMax is the
	// range named by Usage Minimum/Maximum, when HasRange.
	Usages             []Usage
	HasRange           bool
	UsageMin, UsageMax Usage
}

// Covers reports whether the field carries usage u.
func (f *InputField) Covers(u Usage) bool {
	for _, x := range f.Usages {
		if x == u {
			return true
		}
	}
	return f.HasRange && f.UsageMin.Page == u.Page && u.ID >= f.UsageMin.ID && u.ID <= f.UsageMax.ID
}

// ErrTruncatedDescriptor is returned for a descriptor whose last item runs
// past its end.
var ErrTruncatedDescriptor = errors.New("truncated item")

type hidGlobals struct {
	usagePage   uint16
	logicalMin  int64
	logicalMax  int64
	maxSize     int // byte size of the logical maximum item, to reinterpret it
	maxRaw      uint32
	reportSize  uint32
	reportCount uint32
	reportID    uint8
}

// hidLocals is the local state. Its usages are usageBuf[start:], so that
// the fields of a descriptor share one backing array.
type hidLocals struct {
	start, count int
	min, max     Usage
	hasMin       bool
	hasMax       bool
}

// ParseHIDReportDescriptor parses a HID report descriptor (HID 1.11 §6.2.2)
// into its application collections and input fields. It fails on a
// truncated item, an End Collection without a collection, nesting or
// Push deeper than any real device uses, and descriptors larger than 64
// KiB; unknown and reserved items are skipped as the specification asks.
func ParseHIDReportDescriptor(b []byte) (*ReportDescriptor, error) {
	if len(b) > maxDescriptorLen {
		return nil, fmt.Errorf("parse HID report descriptor: %d bytes exceeds %d", len(b), maxDescriptorLen)
	}
	rd := &ReportDescriptor{}
	var (
		g        hidGlobals
		stack    []hidGlobals
		l        hidLocals
		depth    int
		appIdx   = -1 // index of the open application, -1 outside any
		usageBuf = make([]Usage, 0, len(b)/6)
		inputBuf = make([]InputField, 0, len(b)/16)
		appStart int // index in inputBuf of the open application's first input
	)
	for i := 0; i < len(b); {
		prefix := b[i]
		if prefix == 0xFE { // long item: bDataSize, bLongItemTag, data
			if i+2 >= len(b) {
				return nil, fmt.Errorf("parse HID report descriptor: long item at %d: %w", i, ErrTruncatedDescriptor)
			}
			n := int(b[i+1])
			if i+3+n > len(b) {
				return nil, fmt.Errorf("parse HID report descriptor: long item at %d: %w", i, ErrTruncatedDescriptor)
			}
			i += 3 + n
			continue
		}
		size := int(prefix & 0x03)
		if size == 3 {
			size = 4
		}
		if i+1+size > len(b) {
			return nil, fmt.Errorf("parse HID report descriptor: item 0x%02x at %d: %w", prefix, i, ErrTruncatedDescriptor)
		}
		data := b[i+1 : i+1+size]
		u := unsignedLE(data)
		s := signedLE(data)
		at := i
		i += 1 + size

		switch typ, tag := (prefix>>2)&0x03, prefix>>4; typ {
		case 0: // main
			switch tag {
			case 0x8: // Input
				if appIdx >= 0 {
					inputBuf = append(inputBuf, g.inputField(u, &l, usageBuf))
					rd.Applications[appIdx].Inputs = inputBuf[appStart:len(inputBuf):len(inputBuf)]
				}
			case 0xA: // Collection
				if depth >= maxCollectionNest {
					return nil, fmt.Errorf("parse HID report descriptor: collection at %d nests deeper than %d", at, maxCollectionNest)
				}
				if depth == 0 {
					usage := Usage{Page: g.usagePage}
					if l.count > 0 {
						usage = usageBuf[l.start]
					}
					rd.Applications = append(rd.Applications, Application{Usage: usage})
					appIdx, appStart = len(rd.Applications)-1, len(inputBuf)
				}
				depth++
			case 0xC: // End Collection
				if depth == 0 {
					return nil, fmt.Errorf("parse HID report descriptor: end collection at %d without a collection", at)
				}
				depth--
				if depth == 0 {
					appIdx = -1
				}
			}
			// Output (0x9), Feature (0xB) and reserved main items carry
			// nothing about input; every main item ends the local state.
			l = hidLocals{start: len(usageBuf)}
		case 1: // global
			switch tag {
			case 0x0:
				g.usagePage = uint16(u)
			case 0x1:
				g.logicalMin = s
			case 0x2:
				g.logicalMax, g.maxSize, g.maxRaw = s, size, u
			case 0x7:
				g.reportSize = u
			case 0x8:
				g.reportID = uint8(u)
			case 0x9:
				g.reportCount = u
			case 0xA: // Push
				if len(stack) >= maxGlobalStack {
					return nil, fmt.Errorf("parse HID report descriptor: push at %d deeper than %d", at, maxGlobalStack)
				}
				stack = append(stack, g)
			case 0xB: // Pop
				if len(stack) == 0 {
					return nil, fmt.Errorf("parse HID report descriptor: pop at %d without push", at)
				}
				g, stack = stack[len(stack)-1], stack[:len(stack)-1]
			}
		case 2: // local
			usage := Usage{Page: g.usagePage, ID: uint16(u)}
			if size == 4 { // extended usage: page in the high half
				usage.Page = uint16(u >> 16)
			}
			switch tag {
			case 0x0:
				if l.count < maxLocalUsages {
					usageBuf = append(usageBuf, usage)
					l.count++
				}
			case 0x1:
				l.min, l.hasMin = usage, true
			case 0x2:
				l.max, l.hasMax = usage, true
			}
		}
	}
	return rd, nil
}

// inputField builds the field of an Input item with flags f; l's usages
// are in buf.
func (g *hidGlobals) inputField(f uint32, l *hidLocals, buf []Usage) InputField {
	field := InputField{
		ReportID:    g.reportID,
		Constant:    f&0x01 != 0,
		Variable:    f&0x02 != 0,
		Relative:    f&0x04 != 0,
		LogicalMin:  g.logicalMin,
		LogicalMax:  g.logicalMax,
		ReportSize:  g.reportSize,
		ReportCount: g.reportCount,
	}
	// A logical maximum written as 0xFF in one byte means 255 to every
	// host parser when the minimum is not negative; read it unsigned.
	if field.LogicalMin >= 0 && field.LogicalMax < field.LogicalMin && g.maxSize > 0 {
		field.LogicalMax = int64(g.maxRaw)
	}
	if l.count > 0 {
		// Later usages are appended after these, never over them.
		field.Usages = buf[l.start : l.start+l.count : l.start+l.count]
	}
	if l.hasMin && l.hasMax {
		field.HasRange, field.UsageMin, field.UsageMax = true, l.min, l.max
	}
	return field
}

func unsignedLE(b []byte) uint32 {
	var v uint32
	for i := len(b) - 1; i >= 0; i-- {
		v = v<<8 | uint32(b[i])
	}
	return v
}

func signedLE(b []byte) int64 {
	switch len(b) {
	case 1:
		return int64(int8(b[0]))
	case 2:
		return int64(int16(uint16(b[0]) | uint16(b[1])<<8))
	case 4:
		return int64(int32(unsignedLE(b)))
	}
	return 0
}

// PointerKind names what kind of pointing device a collection is.
type PointerKind string

// Pointer kinds. Only mice, generic pointers and touch screens count as
// the absolute pointer of a KVM; see the package documentation.
const (
	PointerMouse       PointerKind = "mouse"
	PointerGeneric     PointerKind = "pointer"
	PointerTouchScreen PointerKind = "touchscreen"
	PointerPen         PointerKind = "pen"
	PointerTouchPad    PointerKind = "touchpad"
)

// Pointer is an X/Y pointing collection of a HID interface.
type Pointer struct {
	Kind       PointerKind
	Absolute   bool
	XMin, XMax int64
	YMin, YMax int64
}

// kvmLike reports whether p is the kind of absolute pointer an IP-KVM
// emulates: an absolute mouse or generic pointer, or a touch screen.
func (p Pointer) kvmLike() bool {
	return p.Absolute && (p.Kind == PointerMouse || p.Kind == PointerGeneric || p.Kind == PointerTouchScreen)
}

// HIDTraits sums up what a HID interface does: whether it is a keyboard
// and which pointers it has.
type HIDTraits struct {
	Keyboard bool
	Pointers []Pointer
}

// pointerKind maps an application collection usage to a pointer kind.
func pointerKind(u Usage) (PointerKind, bool) {
	switch {
	case u == Usage{pageGenericDesktop, usageGDMouse}:
		return PointerMouse, true
	case u == Usage{pageGenericDesktop, usageGDPointer}:
		return PointerGeneric, true
	case u == Usage{pageDigitizer, usageDigTouchScr}:
		return PointerTouchScreen, true
	case u == Usage{pageDigitizer, usageDigPen}, u == Usage{pageDigitizer, usageDigitizer}:
		return PointerPen, true
	case u == Usage{pageDigitizer, usageDigTouchPad}:
		return PointerTouchPad, true
	}
	return "", false
}

func isKeyboardApp(u Usage) bool {
	return u == Usage{pageGenericDesktop, usageGDKeyboard} || u == Usage{pageGenericDesktop, usageGDKeypad}
}

// Traits sums up the descriptor. A keyboard is a Keyboard or Keypad
// application that reports keys (usage page 0x07); a pointer is a pointing
// application with data input fields for both Generic Desktop X and Y,
// absolute when the X field is.
func (rd *ReportDescriptor) Traits() HIDTraits {
	var t HIDTraits
	for i := range rd.Applications {
		app := &rd.Applications[i]
		if isKeyboardApp(app.Usage) {
			for j := range app.Inputs {
				f := &app.Inputs[j]
				if !f.Constant && onPage(f, pageKeyboard) {
					t.Keyboard = true
					break
				}
			}
		}
		kind, ok := pointerKind(app.Usage)
		if !ok {
			continue
		}
		var x, y *InputField
		for j := range app.Inputs {
			f := &app.Inputs[j]
			if f.Constant || !f.Variable {
				continue
			}
			if x == nil && f.Covers(Usage{pageGenericDesktop, usageGDX}) {
				x = f
			}
			if y == nil && f.Covers(Usage{pageGenericDesktop, usageGDY}) {
				y = f
			}
		}
		if x != nil && y != nil {
			t.Pointers = append(t.Pointers, Pointer{
				Kind: kind, Absolute: !x.Relative,
				XMin: x.LogicalMin, XMax: x.LogicalMax, YMin: y.LogicalMin, YMax: y.LogicalMax,
			})
		}
	}
	return t
}

func onPage(f *InputField, page uint16) bool {
	if f.HasRange && f.UsageMin.Page == page {
		return true
	}
	for _, u := range f.Usages {
		if u.Page == page {
			return true
		}
	}
	return false
}

// traitsFromCollections sums up collections an OS HID parser reported
// (Windows), with the same meaning as ReportDescriptor.Traits.
func traitsFromCollections(cs []HIDCollection) HIDTraits {
	var t HIDTraits
	for _, c := range cs {
		app := Usage{c.UsagePage, c.Usage}
		if isKeyboardApp(app) {
			for _, b := range c.Buttons {
				if b.UsagePage == pageKeyboard {
					t.Keyboard = true
				}
			}
			for _, v := range c.Values {
				if v.UsagePage == pageKeyboard {
					t.Keyboard = true
				}
			}
		}
		kind, ok := pointerKind(app)
		if !ok {
			continue
		}
		var x, y *HIDValue
		for i := range c.Values {
			v := &c.Values[i]
			if v.UsagePage != pageGenericDesktop {
				continue
			}
			if x == nil && v.UsageMin <= usageGDX && usageGDX <= v.UsageMax {
				x = v
			}
			if y == nil && v.UsageMin <= usageGDY && usageGDY <= v.UsageMax {
				y = v
			}
		}
		if x != nil && y != nil {
			t.Pointers = append(t.Pointers, Pointer{
				Kind: kind, Absolute: x.Absolute,
				XMin: int64(x.LogicalMin), XMax: int64(x.LogicalMax),
				YMin: int64(y.LogicalMin), YMax: int64(y.LogicalMax),
			})
		}
	}
	return t
}
