// Package all links every detector into a binary. Import it for its side
// effect; nothing else should import detector packages by name.
package all

import (
	_ "github.com/farmwatch/farmwatch/detectors/colocation"   // company laptops and KVM appliances on the LAN
	_ "github.com/farmwatch/farmwatch/detectors/geodrift"     // time zone, locale, VPN clients and interfaces, landmark RTTs
	_ "github.com/farmwatch/farmwatch/detectors/kvm"          // IP-KVM and capture hardware
	_ "github.com/farmwatch/farmwatch/detectors/remoteaccess" // remote-access and RMM tools
)
