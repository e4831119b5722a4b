package temporalserver

import (
	"go.temporal.io/server/common/authorization"
)

// claimMapper gives each certificate of the set its permissions. The frontend
// requires a client certificate of the set's authority (mutual TLS), so a
// certificate reaching here is verified; its common name is the identity:
//   - Service (Baocun's own clients) and ServerName (the server's own system worker)
//     may do everything;
//   - Operator may read (describe, list, query, history) and change nothing.
//
// Any other name gets no claims, which the default authorizer refuses for every
// call but the health check.
type claimMapper struct{}

func (claimMapper) GetClaims(a *authorization.AuthInfo) (*authorization.Claims, error) {
	if a == nil || a.TLSSubject == nil {
		return nil, nil
	}
	cn := a.TLSSubject.CommonName
	c := &authorization.Claims{Subject: cn, AuthType: "mtls"}
	switch cn {
	case Service, ServerName:
		c.System = authorization.RoleAdmin
	case Operator:
		c.System = authorization.RoleReader
	default:
		return nil, nil
	}
	return c, nil
}
