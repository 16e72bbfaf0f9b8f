package tests

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slacker-lua/slacker-lua/client"
	"github.com/slacker-lua/slacker-lua/internal/testutil"
)

// testPKI is a CA and the certificates it signed, written as PEM files.
type testPKI struct {
	dir                          string
	ca                           *x509.Certificate
	caKey                        *ecdsa.PrivateKey
	caFile                       string
	serverCert, serverKey        string // for 127.0.0.1
	clientCert, clientKey        string
	pool                         *x509.CertPool
	clientPair                   tls.Certificate
	strangerCert, strangerKeyPEM string // signed by another CA
}

func newPKI(t *testing.T) *testPKI {
	t.Helper()
	p := &testPKI{dir: t.TempDir()}
	p.ca, p.caKey, p.caFile = p.authority(t, "ca")
	p.serverCert, p.serverKey = p.issue(t, "server", p.ca, p.caKey, []net.IP{net.ParseIP("127.0.0.1")})
	p.clientCert, p.clientKey = p.issue(t, "client", p.ca, p.caKey, nil)
	other, otherKey, _ := p.authority(t, "other-ca")
	p.strangerCert, p.strangerKeyPEM = p.issue(t, "stranger", other, otherKey, nil)
	p.pool = x509.NewCertPool()
	p.pool.AddCert(p.ca)
	var err error
	if p.clientPair, err = tls.LoadX509KeyPair(p.clientCert, p.clientKey); err != nil {
		t.Fatal(err)
	}
	return p
}

func (p *testPKI) authority(t *testing.T, name string) (*x509.Certificate, *ecdsa.PrivateKey, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key, p.write(t, name+".pem", "CERTIFICATE", der)
}

func (p *testPKI) issue(t *testing.T, name string, ca *x509.Certificate, caKey *ecdsa.PrivateKey, ips []net.IP) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses: ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return p.write(t, name+".pem", "CERTIFICATE", der), p.write(t, name+"-key.pem", "EC PRIVATE KEY", kder)
}

func (p *testPKI) write(t *testing.T, name, kind string, der []byte) string {
	t.Helper()
	path := filepath.Join(p.dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// dialErr connects to addr with cfg and makes one call of add, returning
// its error.
func dialErr(addr string, cfg client.Config) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cfg.Reconnect = client.Backoff{Min: time.Hour}
	c, err := client.Dial(ctx, addr, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	n, err := client.CallAs[int](ctx, c, "m/add", 1, 2)
	if err == nil && n != 3 {
		return errors.New("add(1, 2) is not 3")
	}
	return err
}

// TestTLSAndTokens serves with TLS, client certificates and tokens, and
// checks every way in: the right certificate and token, a missing or
// wrong token, no TLS, a certificate of another CA; and the same over
// HTTPS, and from the command line.
func TestTLSAndTokens(t *testing.T) {
	pki := newPKI(t)
	dir := testutil.WriteFiles(t, map[string]string{"m.lua": "function add(a, b) return a + b end"})
	tokens := filepath.Join(pki.dir, "tokens")
	if err := os.WriteFile(tokens, []byte("# callers\nold-token\n\ns3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startCLI(t, "--tls-cert", pki.serverCert, "--tls-key", pki.serverKey, "--tls-client-ca", pki.caFile,
		"--token-file", tokens, "--http", "127.0.0.1:0", dir)
	good := &tls.Config{RootCAs: pki.pool, Certificates: []tls.Certificate{pki.clientPair}}

	if err := dialErr(s.addr, client.Config{TLS: good, Token: "s3cret"}); err != nil {
		t.Fatalf("the right certificate and token: %v", err)
	}
	if err := dialErr(s.addr, client.Config{TLS: good, Token: "old-token"}); err != nil {
		t.Fatalf("the other token: %v", err)
	}
	for name, tok := range map[string]string{"no token": "", "a wrong token": "guess"} {
		if err := dialErr(s.addr, client.Config{TLS: good, Token: tok}); !errors.Is(err, client.ErrACLReject) {
			t.Errorf("%s: %v, want acl-reject", name, err)
		}
	}
	if err := dialErr(s.addr, client.Config{Token: "s3cret", DialTimeout: time.Second}); !errors.Is(err, client.ErrServerTLS) ||
		!strings.Contains(err.Error(), "the server at "+s.addr+" speaks TLS, and this client does not") {
		t.Errorf("a client without TLS: %v, want ErrServerTLS", err)
	}
	noCert := &tls.Config{RootCAs: pki.pool}
	if err := dialErr(s.addr, client.Config{TLS: noCert, Token: "s3cret"}); err == nil {
		t.Error("a client without a certificate was served")
	}
	stranger, err := tls.LoadX509KeyPair(pki.strangerCert, pki.strangerKeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	if err := dialErr(s.addr, client.Config{TLS: &tls.Config{RootCAs: pki.pool, Certificates: []tls.Certificate{stranger}}, Token: "s3cret"}); err == nil {
		t.Error("a certificate of another CA was served")
	}

	// HTTPS, with a bearer token.
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: good}, Timeout: 5 * time.Second}
	url := strings.Replace(httpURL(t, s), "http://", "https://", 1)
	for tok, want := range map[string]int{"s3cret": 200, "guess": 401, "": 401} {
		req, _ := http.NewRequest("POST", url+"/m/add.json", strings.NewReader("[1, 2]"))
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("HTTPS: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("HTTPS with token %q: %d, want %d", tok, resp.StatusCode, want)
		}
	}

	// The command line.
	out, errOut, code := cli(t, "call", "--tls-ca", pki.caFile, "--tls-cert", pki.clientCert, "--tls-key", pki.clientKey,
		"--token-file", tokens, s.addr, "m/add", "1", "2")
	if code != 0 || strings.TrimSpace(out) != "3" {
		t.Errorf("call: exit %d, %q, %q", code, out, errOut)
	}
	if _, errOut, code := cli(t, "call", "--tls-ca", pki.caFile, "--tls-cert", pki.clientCert, "--tls-key", pki.clientKey,
		s.addr, "m/add", "1", "2"); code == 0 || !strings.Contains(errOut, "m/add: acl reject: the server wants a token, and this client has none") {
		t.Errorf("call without a token: exit %d, %q", code, errOut)
	}
	s.terminate(t)
}

// TestMaxConnsAndSlowCalls checks --max-conns and --slow-call on a real
// server: a connection past the bound is closed and logged, and a slow
// call is logged with its time.
func TestMaxConnsAndSlowCalls(t *testing.T) {
	dir := testutil.WriteFiles(t, map[string]string{"m.lua": `
function add(a, b) return a + b end
function slow() local t = slacker.now() while slacker.now() - t < 100 do end return 1 end
`})
	s := startCLI(t, "--max-conns", "1", "--slow-call", "50ms", dir)
	c := dial(t, s.addr, client.Config{})
	callAs[int](t, c, "m/add", 1, 2)
	callAs[int](t, c, "m/slow")
	if err := dialErr(s.addr, client.Config{DialTimeout: time.Second}); err == nil {
		t.Error("a second connection was served past --max-conns 1")
	}
	testutil.WaitFor(t, 5*time.Second, func() bool {
		log := s.log()
		return strings.Contains(log, "too many connections") && strings.Contains(log, `msg="slow call" name=m/slow`)
	}, "the refusal and the slow call in the log")
	if strings.Contains(s.log(), "name=m/add") {
		t.Errorf("a fast call logged as slow:\n%s", s.log())
	}
	s.terminate(t)
}
