package roster

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	t.Parallel()
	in := "owner,display_name,city,country,latitude,longitude,time_zone,devices\n" +
		"alice@corp.example,Alice,Denver,us,39.74,-104.99,America/Denver,LT-0001; LT-0002\n" +
		"bob@corp.example,Bob,Austin,US,30.27,-97.74,,\n"
	got, err := Parse(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("%d entries", len(got))
	}
	a := got[0]
	if a.Owner != "alice@corp.example" || a.Country != "US" || a.Latitude != 39.74 || a.Longitude != -104.99 || a.TimeZone != "America/Denver" {
		t.Errorf("alice = %+v", a)
	}
	if len(a.Devices) != 2 || a.Devices[1] != "LT-0002" {
		t.Errorf("alice devices = %q", a.Devices)
	}
	if len(got[1].Devices) != 0 {
		t.Errorf("bob devices = %q", got[1].Devices)
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	const header = "owner,country,latitude,longitude,time_zone\n"
	for _, tc := range []struct {
		name, in string
		want     []string
	}{
		{"empty", "", []string{"empty"}},
		{"missing column", "owner,country,latitude\n", []string{`missing column "longitude"`}},
		{"unknown column", "owner,country,latitude,longitude,shoe\n", []string{`unknown column "shoe"`}},
		{"header only", header, []string{"no rows"}},
		{"bad rows", header + "a@x,US,1,2,\n,US,1,2,\nb@x,USA,91,2,Mars/Base\nc@x,US,1,x,\na@x,US,1,2,\n",
			[]string{"nothing imported", "line 3: owner is empty", `line 4: country "USA"`, "line 4: latitude: 91 is outside ±90", `time_zone "Mars/Base"`, `line 5: longitude: "x"`, `line 6: owner "a@x" already on line 2`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := Parse(strings.NewReader(tc.in))
			if err == nil {
				t.Fatalf("no error; got %+v", got)
			}
			if got != nil {
				t.Errorf("entries returned with an error: %+v", got)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}
