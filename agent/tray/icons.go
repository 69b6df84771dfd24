package tray

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"image"
	"image/color"
	"image/png"
)

// iconSize is the icons' edge in pixels; trays scale them.
const iconSize = 32

var rgb = map[Color]color.NRGBA{
	Green: {0x2e, 0xa0, 0x43, 0xff},
	Amber: {0xf0, 0xa0, 0x20, 0xff},
	Red:   {0xd0, 0x30, 0x30, 0xff},
	Grey:  {0x90, 0x90, 0x90, 0xff},
}

// IconPNG draws the icon of c: a filled disc with a light rim on a
// transparent square.
func IconPNG(c Color) ([]byte, error) {
	fill, ok := rgb[c]
	if !ok {
		fill = rgb[Grey]
	}
	img := image.NewNRGBA(image.Rect(0, 0, iconSize, iconSize))
	const r = iconSize/2 - 1
	for y := range iconSize {
		for x := range iconSize {
			dx, dy := float64(x)-iconSize/2+0.5, float64(y)-iconSize/2+0.5
			switch d := dx*dx + dy*dy; {
			case d <= (r-2)*(r-2):
				img.SetNRGBA(x, y, fill)
			case d <= r*r:
				img.SetNRGBA(x, y, color.NRGBA{0xff, 0xff, 0xff, 0xe0})
			}
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		return nil, fmt.Errorf("tray icon %s: %w", c, err)
	}
	return b.Bytes(), nil
}

// IconICO wraps the PNG icon of c in an ICO container (Windows trays
// take ICO; PNG entries are valid since Windows Vista).
func IconICO(c Color) ([]byte, error) {
	p, err := IconPNG(c)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	w := func(v any) { binary.Write(&b, binary.LittleEndian, v) }
	w(uint16(0))       // reserved
	w(uint16(1))       // type: icon
	w(uint16(1))       // one image
	w(uint8(iconSize)) // width
	w(uint8(iconSize)) // height
	w(uint8(0))        // no palette
	w(uint8(0))        // reserved
	w(uint16(1))       // colour planes
	w(uint16(32))      // bits per pixel
	w(uint32(len(p)))  // image size
	w(uint32(6 + 16))  // image offset
	b.Write(p)
	return b.Bytes(), nil
}

// Icon returns the icon bytes the tray of goos takes.
func Icon(goos string, c Color) ([]byte, error) {
	if goos == "windows" {
		return IconICO(c)
	}
	return IconPNG(c)
}
