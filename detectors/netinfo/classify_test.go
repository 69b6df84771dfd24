package netinfo

import "testing"

func TestNormalizeMAC(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"AA:BB:CC:DD:EE:FF", "aa:bb:cc:dd:ee:ff"},
		{"a:b:c:d:e:f", "0a:0b:0c:0d:0e:0f"},
		{"0:11:22:3:44:5", "00:11:22:03:44:05"},
		{"AA-BB-CC-00-11-22", "aa:bb:cc:00:11:22"},
		{" 3c:a9:f4:12:34:56\n", "3c:a9:f4:12:34:56"},
		{"3CA9F4123456", "3c:a9:f4:12:34:56"},
		{"00:11:22:33:44:55:66:77", "00:11:22:33:44:55:66:77"},
		{"00:00:00:00:00:00", ""},
		{"0:0:0:0:0:0", ""},
		{"", ""},
		{"aa:bb:cc:dd:ee", ""},
		{"aa:bb:cc:dd:ee:ff:00", ""},
		{"aa::cc:dd:ee:ff", ""},
		{":aa:bb:cc:dd:ee", ""},
		{"aa:bb:cc:dd:ee:fg", ""},
		{"aaa:bb:cc:dd:ee:ff", ""},
		{"aa:bb:cc-dd:ee:ff:00:11:22", ""},
		{"incomplete", ""},
		{"3CA9F412345Z", ""},
	}
	for _, tc := range tests {
		if got := NormalizeMAC(tc.in); got != tc.want {
			t.Errorf("NormalizeMAC(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestTunnelKindOf(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, desc, want string }{
		{"utun4", "", "utun"},
		{"tun0", "", "tun"},
		{"tap0", "", "tap"},
		{"tapir", "", ""},
		{"wg0", "", "wireguard"},
		{"wg-mullvad", "", "wireguard"},
		{"nordlynx", "", "wireguard"},
		{"tailscale0", "", "tun"},
		{"ppp0", "", "ppp"},
		{"ipsec0", "", "ipsec"},
		{"gretap0", "", "tunnel"},
		{"eth0", "", ""},
		{"en0", "", ""},
		{"wlan0", "", ""},
		{"Wi-Fi", "Intel(R) Wi-Fi 6E AX211 160MHz", ""},
		{"Ethernet", "Intel(R) Ethernet Connection (13) I219-LM", ""},
		{"OpenVPN Wintun", "Wintun Userspace Tunnel", "wintun"},
		{"Local Area Connection 2", "TAP-Windows Adapter V9", "tap"},
		{"wg-office", "WireGuard Tunnel", "wireguard"},
		{"Ethernet 3", "PANGP Virtual Ethernet Adapter Secure", "tunnel"},
		{"Ethernet 4", "Cisco AnyConnect Secure Mobility Client Virtual Miniport Adapter for Windows x64", "tunnel"},
		{"Broadband", "WAN Miniport (PPPOE)", "ppp"},
		{"Astrill", "Astrill SSL VPN Adapter", "tunnel"},
		{"Ethernet 5", "OpenVPN Data Channel Offload", "tun"},
		// A description that names no tunnel leaves it to the name.
		{"tun0", "Intel(R) Ethernet", "tun"},
		{"Ethernet 6", "Hyper-V Virtual Ethernet Adapter", ""},
	}
	for _, tc := range tests {
		if got := TunnelKindOf(tc.name, tc.desc); got != tc.want {
			t.Errorf("TunnelKindOf(%q, %q) = %q, want %q", tc.name, tc.desc, got, tc.want)
		}
	}
}
