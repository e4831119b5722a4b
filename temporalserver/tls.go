package temporalserver

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"baocun/keyfile"
)

// The embedded server's frontend admits only clients that present a certificate of
// its own certificate authority, which the service generates into the data dir on
// first start. Each certificate's common name is an identity the server's claim
// mapper gives permissions to (authz.go).
const (
	// TLSDir is the directory of the certificates inside the data dir.
	TLSDir = "temporal-tls"
	// ServerName is on the server's certificate whatever address it listens on:
	// clients on other hosts verify the server under this name.
	ServerName = "baocun-temporal"
	// Service is the common name of the certificate Baocun's own clients present:
	// full access.
	Service = "baocun-service"
	// Operator is the common name of the certificate for an operator's `temporal`
	// CLI: read-only.
	Operator = "baocun-operator"
	// Internode is the common name of the server's certificate between its own
	// services (history, matching, the system worker), of an authority of its own.
	Internode = "baocun-temporal-internode"

	caName          = "Baocun Temporal CA"
	internodeCAName = "Baocun Temporal internode CA"
)

// Files of a certificate set, as they are in TLSDir. Two authorities: ca.pem signs
// the frontend's certificate and its clients' (service, operator); internode-ca.pem
// signs only the certificate the server's own services present to each other. The
// history and matching services run no authorizer — any certificate they admit may do
// anything — so they admit only the internode authority's, which no client holds.
const (
	caCert, caKey                   = "ca.pem", "ca-key.pem"
	internodeCACert, internodeCAKey = "internode-ca.pem", "internode-ca-key.pem"
	frontendCert, frontendKey       = "frontend.pem", "frontend-key.pem"
	internodeCert, internodeKey     = "internode.pem", "internode-key.pem"
	serviceCert, serviceKey         = "service.pem", "service-key.pem"
	operatorCert, operatorKey       = "operator.pem", "operator-key.pem"
)

// certValidity is how long generated certificates last: longer than a three-year
// cycle with room to spare. An expired certificate stops the service at start with a
// message saying how to renew (delete the directory).
const certValidity = 10 * 365 * 24 * time.Hour

// Certificates is a whole certificate set in a directory.
type Certificates struct {
	Dir string
}

func (c *Certificates) path(name string) string { return filepath.Join(c.Dir, name) }

// CA is the certificate authority's certificate, which clients trust.
func (c *Certificates) CA() string { return c.path(caCert) }

// ClientFiles are the certificate and key a client presents: Service or Operator.
func (c *Certificates) ClientFiles(who string) (cert, key string) {
	if who == Operator {
		return c.path(operatorCert), c.path(operatorKey)
	}
	return c.path(serviceCert), c.path(serviceKey)
}

// ReadCertificates checks the set in dir: every file present and readable, every
// certificate of the set's authority, in date, and matching its key. It returns an
// error wrapping fs.ErrNotExist when dir itself does not exist (a first start).
func ReadCertificates(dir string) (*Certificates, error) {
	if _, err := os.Stat(dir); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return nil, tlsErr(dir, err)
	}
	c := &Certificates{Dir: dir}
	now := time.Now()
	load := func(cert, key string) (*x509.Certificate, error) {
		kp, err := tls.LoadX509KeyPair(c.path(cert), c.path(key))
		if err != nil {
			return nil, tlsErr(c.path(cert), err)
		}
		if now.After(kp.Leaf.NotAfter) {
			return nil, tlsErr(c.path(cert), fmt.Errorf("expired on %s: move the directory away and start again to generate a new set (then give other instances the new client certificate)", kp.Leaf.NotAfter.Format(time.DateOnly)))
		}
		return kp.Leaf, nil
	}
	for _, set := range []struct {
		ca, caKey string
		leaves    [][2]string
	}{
		{caCert, caKey, [][2]string{{frontendCert, frontendKey}, {serviceCert, serviceKey}, {operatorCert, operatorKey}}},
		{internodeCACert, internodeCAKey, [][2]string{{internodeCert, internodeKey}}},
	} {
		ca, err := load(set.ca, set.caKey)
		if err != nil {
			return nil, err
		}
		roots := x509.NewCertPool()
		roots.AddCert(ca)
		for _, pair := range set.leaves {
			leaf, err := load(pair[0], pair[1])
			if err != nil {
				return nil, err
			}
			if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
				return nil, tlsErr(c.path(pair[0]), fmt.Errorf("not of this directory's authority %s: %v", set.ca, err))
			}
		}
	}
	return c, nil
}

// CreateCertificates generates a new set into dir, which must not exist: an
// authority, the server's certificate (for ServerName, localhost, the loopback
// addresses and hosts), and the Service and Operator client certificates. The set
// is written beside dir and renamed into place, so dir is whole or absent.
func CreateCertificates(dir string, hosts ...string) (*Certificates, error) {
	tmp, err := os.MkdirTemp(filepath.Dir(dir), "."+filepath.Base(dir)+".tmp-*")
	if err != nil {
		return nil, tlsErr(dir, err)
	}
	defer os.RemoveAll(tmp)
	if err := generate(tmp, hosts); err != nil {
		return nil, tlsErr(dir, err)
	}
	if err := keyfile.SyncDir(tmp); err != nil {
		return nil, tlsErr(dir, err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		if _, statErr := os.Stat(dir); statErr == nil {
			// Another process made it first: use that one.
			return ReadCertificates(dir)
		}
		return nil, tlsErr(dir, err)
	}
	if err := keyfile.SyncDir(filepath.Dir(dir)); err != nil {
		return nil, tlsErr(dir, err)
	}
	return &Certificates{Dir: dir}, nil
}

func generate(dir string, hosts []string) error {
	now := time.Now().Add(-time.Hour) // tolerate a little clock skew between hosts
	authority := func(name, certFile, keyFile string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, nil, err
		}
		tmpl := &x509.Certificate{
			SerialNumber:          serial(),
			Subject:               pkix.Name{CommonName: name, Organization: []string{"Baocun"}},
			NotBefore:             now,
			NotAfter:              now.Add(certValidity),
			IsCA:                  true,
			BasicConstraintsValid: true,
			MaxPathLenZero:        true,
			KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			return nil, nil, err
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, nil, err
		}
		return cert, key, writePair(dir, certFile, keyFile, der, key)
	}
	leaf := func(ca *x509.Certificate, caKey *ecdsa.PrivateKey, cn string, usages []x509.ExtKeyUsage, dns []string, ips []net.IP, certFile, keyFile string) error {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return err
		}
		tmpl := &x509.Certificate{
			SerialNumber: serial(),
			Subject:      pkix.Name{CommonName: cn, Organization: []string{"Baocun"}},
			NotBefore:    now,
			NotAfter:     now.Add(certValidity),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  usages,
			DNSNames:     dns,
			IPAddresses:  ips,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			return err
		}
		return writePair(dir, certFile, keyFile, der, key)
	}
	ca, caPriv, err := authority(caName, caCert, caKey)
	if err != nil {
		return err
	}
	ica, icaPriv, err := authority(internodeCAName, internodeCACert, internodeCAKey)
	if err != nil {
		return err
	}
	dns := []string{ServerName, "localhost"}
	ips := []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	if h, err := os.Hostname(); err == nil && h != "" {
		dns = append(dns, h)
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			if !ip.IsUnspecified() {
				ips = append(ips, ip)
			}
		} else if h != "" {
			dns = append(dns, h)
		}
	}
	server := []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	client := []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	if err := leaf(ca, caPriv, ServerName, server, dns, ips, frontendCert, frontendKey); err != nil {
		return err
	}
	if err := leaf(ca, caPriv, Service, client, nil, nil, serviceCert, serviceKey); err != nil {
		return err
	}
	if err := leaf(ca, caPriv, Operator, client, nil, nil, operatorCert, operatorKey); err != nil {
		return err
	}
	// Both usages: the services present it to each other as servers and as clients,
	// and the system worker presents it to the frontend.
	return leaf(ica, icaPriv, Internode, append(server, x509.ExtKeyUsageClientAuth), []string{Internode}, ips, internodeCert, internodeKey)
}

func writePair(dir, certFile, keyFile string, der []byte, key *ecdsa.PrivateKey) error {
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	if _, err := keyfile.Create(filepath.Join(dir, keyFile), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return err
	}
	_, err = keyfile.Create(filepath.Join(dir, certFile), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	return err
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return n
}

func parseCert(data []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("not a PEM CERTIFICATE")
	}
	return x509.ParseCertificate(block.Bytes)
}

// ClientTLS is the TLS configuration of a client of the embedded frontend presenting
// who's certificate (Service or Operator).
func (c *Certificates) ClientTLS(who string) (*tls.Config, error) {
	cert, key := c.ClientFiles(who)
	return ClientTLS(c.CA(), cert, key, ServerName)
}

// ClientTLS is the TLS configuration of a client that trusts the authority in caFile
// and presents the certificate in certFile and keyFile (both optional), verifying
// the server under serverName (optional: the dialled host).
func ClientTLS(caFile, certFile, keyFile, serverName string) (*tls.Config, error) {
	t := &tls.Config{ServerName: serverName, MinVersion: tls.VersionTLS12}
	if certFile != "" || keyFile != "" {
		kp, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, tlsErr(certFile, err)
		}
		t.Certificates = []tls.Certificate{kp}
	}
	if caFile != "" {
		data, err := os.ReadFile(caFile)
		if err != nil {
			return nil, tlsErr(caFile, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(data) {
			return nil, tlsErr(caFile, errors.New("no PEM certificate in it"))
		}
		t.RootCAs = pool
	}
	return t, nil
}

func tlsErr(path string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return fmt.Errorf("Temporal 证书不可用 Temporal TLS file %s unusable: %v", path, err)
}
