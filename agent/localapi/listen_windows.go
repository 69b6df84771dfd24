package localapi

import (
	"net"

	"github.com/Microsoft/go-winio"
	"go.uber.org/zap"
)

// Security descriptors of the pipes (SDDL). The read pipe admits SYSTEM
// and Administrators fully and every authenticated user to read and
// write requests; the admin pipe admits only SYSTEM and Administrators,
// so Windows itself refuses everyone else (ERROR_ACCESS_DENIED). An
// unelevated administrator's token has the Administrators group as
// deny-only, so privileged calls need an elevated prompt. go-winio
// creates pipes that reject remote clients.
const (
	readPipeSDDL  = "D:P(A;;GA;;;SY)(A;;GA;;;BA)(A;;GRGW;;;AU)"
	adminPipeSDDL = "D:P(A;;GA;;;SY)(A;;GA;;;BA)"
)

// listen creates the two pipes: endpoint for everyone, endpoint-admin for
// administrators.
func listen(endpoint string, _ []string, _ *zap.Logger) ([]net.Listener, error) {
	read, err := winio.ListenPipe(endpoint, &winio.PipeConfig{SecurityDescriptor: readPipeSDDL})
	if err != nil {
		return nil, err
	}
	admin, err := winio.ListenPipe(AdminPipe(endpoint), &winio.PipeConfig{SecurityDescriptor: adminPipeSDDL})
	if err != nil {
		read.Close()
		return nil, err
	}
	return []net.Listener{
		newIdentifyingListener(read, func(net.Conn) Peer { return Peer{UID: -1, PID: -1, Via: "pipe"} }),
		newIdentifyingListener(admin, func(net.Conn) Peer { return Peer{UID: -1, PID: -1, Admin: true, Via: "admin pipe"} }),
	}, nil
}
