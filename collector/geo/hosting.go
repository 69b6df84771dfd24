package geo

// HostingASN is one autonomous system whose addresses are hosting,
// data-centre or commercial VPN egress, not a home or office line.
type HostingASN struct {
	ASN  uint32
	Name string
	// Kind is "vpn" or "hosting".
	Kind string
}

// HostingSource is where DefaultHostingASNs come from.
const HostingSource = "X4BNet/lists_vpn input/vpn/ASN.txt and input/datacenter/ASN.txt (https://github.com/X4BNet/lists_vpn)"

// DefaultHostingASNs is a small, well-known starting list (used unless
// geoip.default_hosting_asns is false), taken from X4BNet/lists_vpn, a
// maintained list of VPN and data-centre ASNs: the commercial VPN
// networks it names, and the large cloud and rented-server networks VPN
// exits (Astrill's among them: Mandiant, Secureworks and LevelBlue report
// Astrill exit IPs on rented servers, not on an Astrill network of its
// own) most often sit on. It is deliberately short: add your threat
// intelligence with geoip.hosting_asns, and exempt your own cloud egress
// (SASE, corporate VPN) with geoip.allowed_asns or geoip.exempt_cidrs.
var DefaultHostingASNs = []HostingASN{
	// input/vpn/ASN.txt
	{9009, "M247 (NordVPN, Surfshark and other VPN exits)", "vpn"},
	{136787, "NordVPN (TEFINCOM S.A.)", "vpn"},
	{207137, "Packethub (NordVPN)", "vpn"},
	{209854, "Surfshark", "vpn"},
	{212238, "Datacamp", "vpn"},
	{50525, "Privado VPN", "vpn"},
	{20448, "VPNtranet", "vpn"},
	{60729, "Tor exit nodes", "vpn"},
	// input/datacenter/ASN.txt
	{14061, "DigitalOcean", "hosting"},
	{16509, "Amazon (AMAZON-02)", "hosting"},
	{14618, "Amazon (AMAZON-AES)", "hosting"},
	{20473, "Choopa / Vultr", "hosting"},
	{63949, "Linode (Akamai)", "hosting"},
	{24940, "Hetzner", "hosting"},
	{16276, "OVH", "hosting"},
	{8100, "QuadraNet", "hosting"},
	{36352, "ColoCrossing", "hosting"},
	{51167, "Contabo", "hosting"},
	{60068, "CDN77 (Datacamp)", "hosting"},
	{53667, "FranTech Solutions (BuyVM)", "hosting"},
	{40676, "Psychz Networks", "hosting"},
	{46844, "Sharktech", "hosting"},
}

// DefaultHostingOrgPatterns match the AS organisation name
// (case-insensitive substrings) of networks not on the ASN list: VPN
// brands and hosting wording. "astrill" is first: the VPN named in every
// DPRK IT-worker report (reference/signals.md).
var DefaultHostingOrgPatterns = []string{"astrill", "vpn", "hosting", "data center", "datacenter", "colocation", "dedicated server", "vps"}
