//go:build !linux

package quicx

import (
	"errors"
	"net"
)

func probeGSO() (Support, error) { return SupportUnknown, nil }

func probeECN() (Support, error) { return SupportUnknown, nil }

func pathMTU(*net.UDPAddr, bool) (int, error) { return 0, errors.ErrUnsupported }
