package temporalserver

import (
	"go.temporal.io/server/common/authorization"
)

// claimMapper gives each certificate of the set its permissions. The frontend
// requires a client certificate of the set's authority (mutual TLS), so a
// certificate reaching here is verified; its common name is the identity:
//   - Service (Baocun's own clients) may do everything, and so may Internode (the
//     server's own system worker) when its certificate is of the internode authority;
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
	case Service:
		c.System = authorization.RoleAdmin
	case Internode:
		if !issuedBy(a, internodeCAName) {
			return nil, nil
		}
		c.System = authorization.RoleAdmin
	case Operator:
		c.System = authorization.RoleReader
	default:
		return nil, nil
	}
	return c, nil
}

// issuedBy reports whether the verified chain of the peer's certificate ends at the
// authority named ca: a name alone could be minted by another authority the frontend
// trusts.
func issuedBy(a *authorization.AuthInfo, ca string) bool {
	if a.TLSConnection == nil || len(a.TLSConnection.State.VerifiedChains) == 0 {
		return false
	}
	chain := a.TLSConnection.State.VerifiedChains[0]
	return len(chain) > 1 && chain[len(chain)-1].Subject.CommonName == ca
}
