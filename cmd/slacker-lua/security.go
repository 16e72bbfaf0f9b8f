package main

import (
	"bufio"
	"bytes"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
)

// serverSecurity is serve's TLS and token flags.
type serverSecurity struct {
	cert, key, clientCA, tokenFile, adminTokenFile string
}

func (f *serverSecurity) register(fs *flag.FlagSet) {
	fs.StringVar(&f.cert, "tls-cert", "", "PEM `file` of the server's certificate chain: serve TLS, on --listen and --http (with --tls-key)")
	fs.StringVar(&f.key, "tls-key", "", "PEM `file` of the key of --tls-cert")
	fs.StringVar(&f.clientCA, "tls-client-ca", "", "PEM `file` of the CAs whose certificates clients must present (with --tls-cert)")
	fs.StringVar(&f.tokenFile, "token-file", "", "`file` of the tokens clients must give, one a line: in an auth-req packet, or as \"Authorization: Bearer TOKEN\" over HTTP")
	fs.StringVar(&f.adminTokenFile, "admin-token-file", "", "`file` of the tokens of `slacker-lua admin`: serves the admin endpoints on --http, in a cluster")
}

// tlsConfig returns the server's TLS configuration, nil without --tls-cert.
func (f *serverSecurity) tlsConfig() (*tls.Config, error) {
	switch {
	case f.cert == "" && f.key == "" && f.clientCA == "":
		return nil, nil
	case f.cert == "" || f.key == "":
		return nil, errors.New("--tls-cert and --tls-key go together")
	}
	pair, err := tls.LoadX509KeyPair(f.cert, f.key)
	if err != nil {
		return nil, fmt.Errorf("--tls-cert, --tls-key: %w", err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
	if f.clientCA != "" {
		pool, err := certPool(f.clientCA)
		if err != nil {
			return nil, fmt.Errorf("--tls-client-ca: %w", err)
		}
		cfg.ClientCAs, cfg.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

// authenticator returns the check of a client's token, nil without
// --token-file.
func (f *serverSecurity) authenticator() (func(string) bool, error) {
	return tokenCheck("--token-file", f.tokenFile)
}

// adminAuthenticator returns the check of an operator's token, nil
// without --admin-token-file.
func (f *serverSecurity) adminAuthenticator() (func(string) bool, error) {
	return tokenCheck("--admin-token-file", f.adminTokenFile)
}

// tokenCheck returns the check of a token against those of the file of
// flag, nil without a file.
func tokenCheck(flag, file string) (func(string) bool, error) {
	if file == "" {
		return nil, nil
	}
	tokens, err := readTokens(file)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flag, err)
	}
	if len(tokens) == 0 {
		return nil, fmt.Errorf("%s %s: no token in it", flag, file)
	}
	return func(tok string) bool {
		ok := 0
		for _, t := range tokens {
			// Every token compared, in constant time: how long the
			// check takes tells nothing of the tokens.
			ok |= subtle.ConstantTimeCompare([]byte(tok), []byte(t))
		}
		return ok == 1
	}, nil
}

// readTokens reads a file of tokens, one a line; blank lines and lines
// starting with # are skipped.
func readTokens(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var tokens []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		tokens = append(tokens, line)
	}
	return tokens, sc.Err()
}

// certPool reads the PEM certificates of a file.
func certPool(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s: no PEM certificate in it", path)
	}
	return pool, nil
}

// clientSecurity is the TLS and token flags of the commands that call a
// server.
type clientSecurity struct {
	ca, cert, key, tokenFile string
}

func (f *clientSecurity) register(fs *flag.FlagSet) {
	fs.StringVar(&f.ca, "tls-ca", "", "PEM `file` of the CAs to trust: connect with TLS")
	fs.StringVar(&f.cert, "tls-cert", "", "PEM `file` of a client certificate to present, with --tls-ca and --tls-key")
	fs.StringVar(&f.key, "tls-key", "", "PEM `file` of the key of --tls-cert")
	fs.StringVar(&f.tokenFile, "token-file", "", "`file` whose first token is given to the server")
}

// tlsConfig returns the client's TLS configuration, nil without --tls-ca.
func (f *clientSecurity) tlsConfig() (*tls.Config, error) {
	if f.ca == "" {
		if f.cert != "" || f.key != "" {
			return nil, errors.New("--tls-cert and --tls-key go with --tls-ca")
		}
		return nil, nil
	}
	pool, err := certPool(f.ca)
	if err != nil {
		return nil, fmt.Errorf("--tls-ca: %w", err)
	}
	cfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if f.cert != "" || f.key != "" {
		pair, err := tls.LoadX509KeyPair(f.cert, f.key)
		if err != nil {
			return nil, fmt.Errorf("--tls-cert, --tls-key: %w", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

// token returns the token to give, "" without --token-file.
func (f *clientSecurity) token() (string, error) {
	if f.tokenFile == "" {
		return "", nil
	}
	tokens, err := readTokens(f.tokenFile)
	if err != nil {
		return "", fmt.Errorf("--token-file: %w", err)
	}
	if len(tokens) == 0 {
		return "", fmt.Errorf("--token-file %s: no token in it", f.tokenFile)
	}
	return tokens[0], nil
}
