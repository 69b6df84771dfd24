package tray

import (
	"bytes"
	"encoding/binary"
	"image/png"
	"testing"
)

func TestIcons(t *testing.T) {
	t.Parallel()
	seen := map[string]Color{}
	for _, c := range []Color{Green, Amber, Red, Grey} {
		p, err := IconPNG(c)
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(bytes.NewReader(p))
		if err != nil {
			t.Fatalf("%s: %v", c, err)
		}
		if b := img.Bounds(); b.Dx() != iconSize || b.Dy() != iconSize {
			t.Errorf("%s: %v", c, b)
		}
		r, g, bl, a := img.At(iconSize/2, iconSize/2).RGBA()
		want := rgb[c]
		if uint8(r>>8) != want.R || uint8(g>>8) != want.G || uint8(bl>>8) != want.B || a == 0 {
			t.Errorf("%s: centre pixel %d,%d,%d,%d", c, r>>8, g>>8, bl>>8, a>>8)
		}
		if _, _, _, a := img.At(0, 0).RGBA(); a != 0 {
			t.Errorf("%s: corner not transparent", c)
		}
		if prev, dup := seen[string(p)]; dup {
			t.Errorf("%s and %s have the same icon", c, prev)
		}
		seen[string(p)] = c
		if len(p) > 4096 {
			t.Errorf("%s icon is %d bytes", c, len(p))
		}

		ico, err := Icon("windows", c)
		if err != nil {
			t.Fatal(err)
		}
		var hdr struct {
			Reserved, Type, Count uint16
			W, H, Colors, Res     uint8
			Planes, BPP           uint16
			Size, Offset          uint32
		}
		if err := binary.Read(bytes.NewReader(ico), binary.LittleEndian, &hdr); err != nil {
			t.Fatal(err)
		}
		if hdr.Type != 1 || hdr.Count != 1 || hdr.W != iconSize || int(hdr.Size) != len(p) || !bytes.Equal(ico[hdr.Offset:], p) {
			t.Errorf("%s: ICO header %+v", c, hdr)
		}
		if lin, _ := Icon("linux", c); !bytes.Equal(lin, p) {
			t.Errorf("%s: the Linux icon is not the PNG", c)
		}
	}
}
