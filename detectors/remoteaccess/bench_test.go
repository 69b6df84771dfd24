package remoteaccess

import (
	"fmt"
	"testing"
)

// benchObservation is a busy Windows laptop: 1,000 processes, 300
// services, 200 sockets and 150 installed programs, a few of them
// remote-access tools.
func benchObservation() *Observation {
	o := &Observation{Schema: Schema, OS: "windows"}
	for i := range 1000 {
		name := fmt.Sprintf("app%03d.exe", i%250)
		exe := fmt.Sprintf(`C:\Program Files\Vendor%d\%s`, i%40, name)
		switch i {
		case 10:
			name, exe = "AnyDesk.exe", `C:\Program Files (x86)\AnyDesk\AnyDesk.exe`
		case 20:
			name, exe = "TeamViewer.exe", `C:\Program Files\TeamViewer\TeamViewer.exe`
		case 30:
			name, exe = "chrome.exe", `C:\Program Files\Google\Chrome\Application\chrome.exe`
		}
		o.Processes = append(o.Processes, Process{PID: int32(1000 + i), PPID: 4, Name: name, Exe: exe, Cmdline: `"` + exe + `" --flag`, User: "LT\\user"})
	}
	for i := range 300 {
		name := fmt.Sprintf("Svc%03d", i)
		if i == 7 {
			name = "AnyDesk"
		}
		o.Services = append(o.Services, Service{Name: name, DisplayName: name + " Service", State: "running", Path: fmt.Sprintf(`C:\Windows\System32\svc%d.exe -k x`, i), Kind: "windows_service", StartMode: "auto"})
	}
	for i := range 100 {
		o.Listeners = append(o.Listeners, Listener{Proto: "tcp", Addr: "0.0.0.0", Port: uint32(49000 + i), PID: int32(1000 + i*3)})
		o.Connections = append(o.Connections, Connection{Proto: "tcp", LocalPort: uint32(50000 + i), RemoteAddr: "203.0.113.7", RemotePort: 443, PID: int32(1000 + i*7)})
	}
	for i := range 150 {
		o.Software = append(o.Software, Software{Name: fmt.Sprintf("Product %d", i), Publisher: "Vendor", Source: "uninstall_key"})
	}
	o.Software = append(o.Software, Software{Name: "AnyDesk", Source: "uninstall_key"})
	return o
}

// BenchmarkEvaluate measures one evaluation of a busy laptop against the
// whole catalogue (target: under 1 ms).
func BenchmarkEvaluate(b *testing.B) {
	d := New(DefaultCatalogue()).(*detector)
	o := benchObservation()
	pol, _ := d.DecodePolicy(nil)
	if fs := d.Evaluate(o, nil, pol); len(fs) < 3 {
		b.Fatalf("benchmark observation yields %d findings, want anydesk, teamviewer and several tools", len(fs))
	}
	b.ReportAllocs()
	for b.Loop() {
		d.Evaluate(o, nil, pol)
	}
}
