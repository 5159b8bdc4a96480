package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
)

// prepareAPIServer writes the cluster's credentials into --data-dir (once; a
// restart reuses them), starts embedded etcd in this process and returns the
// kube-apiserver arguments. Arguments after "--" are passed through.
func prepareAPIServer(argv []string) ([]string, error) {
	fs := flag.NewFlagSet("apiserver", flag.ContinueOnError)
	dataDir := fs.String("data-dir", "", "directory for etcd data, certificates and the kubeconfig")
	securePort := fs.Int("secure-port", 6443, "kube-apiserver port on 127.0.0.1")
	etcdPort := fs.Int("etcd-port", 2379, "etcd client port on 127.0.0.1")
	etcdPeerPort := fs.Int("etcd-peer-port", 2380, "etcd peer port on 127.0.0.1")
	if err := fs.Parse(argv); err != nil {
		return nil, err
	}
	if *dataDir == "" {
		return nil, errors.New("--data-dir is required")
	}
	dir, err := filepath.Abs(*dataDir)
	if err != nil {
		return nil, err
	}
	pki := filepath.Join(dir, "pki")
	if err := writeCredentials(pki, dir, *securePort); err != nil {
		return nil, fmt.Errorf("credentials: %w", err)
	}
	if err := startEtcd(filepath.Join(dir, "etcd"), *etcdPort, *etcdPeerPort); err != nil {
		return nil, fmt.Errorf("etcd: %w", err)
	}
	p := func(name string) string { return filepath.Join(pki, name) }
	args := []string{
		fmt.Sprintf("--etcd-servers=http://127.0.0.1:%d", *etcdPort),
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", *securePort),
		"--cert-dir=" + pki,
		"--tls-cert-file=" + p("apiserver.crt"),
		"--tls-private-key-file=" + p("apiserver.key"),
		"--client-ca-file=" + p("ca.crt"),
		"--token-auth-file=" + p("tokens.csv"),
		"--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + p("sa.pub"),
		"--service-account-signing-key-file=" + p("sa.key"),
		"--service-cluster-ip-range=10.0.0.0/24",
		"--allow-privileged=true",
		// The lease reconciler would publish 127.0.0.1 as the kubernetes
		// Endpoints, which validation rejects (loopback) and logs forever.
		"--endpoint-reconciler-type=none",
		"--profiling=false",
	}
	return append(args, fs.Args()...), nil
}

func startEtcd(dir string, port, peerPort int) error {
	cfg := embed.NewConfig()
	cfg.Name = "localcluster"
	cfg.Dir = dir
	client := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", port)}
	peer := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", peerPort)}
	cfg.ListenClientUrls = []url.URL{client}
	cfg.AdvertiseClientUrls = []url.URL{client}
	cfg.ListenPeerUrls = []url.URL{peer}
	cfg.AdvertisePeerUrls = []url.URL{peer}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.LogLevel = "error"
	cfg.LogOutputs = []string{filepath.Join(filepath.Dir(dir), "etcd.log")}
	// Test data is thrown away with the cluster; fsync only costs time.
	cfg.UnsafeNoFsync = true
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return err
	}
	select {
	case <-e.Server.ReadyNotify():
		return nil
	case err := <-e.Err():
		return err
	case <-time.After(60 * time.Second):
		e.Close()
		return errors.New("not ready after 60s")
	}
}

// writeCredentials creates a CA, the serving certificate, the service-account
// signing key, an admin token in system:masters and an admin kubeconfig.
func writeCredentials(pki, dir string, port int) error {
	if _, err := os.Stat(filepath.Join(pki, "tokens.csv")); err == nil {
		return nil
	}
	if err := os.MkdirAll(pki, 0o700); err != nil {
		return err
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now().Add(-time.Hour)
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "localcluster-ca"},
		NotBefore:             now,
		NotAfter:              now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return err
	}
	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	srvTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "kube-apiserver"},
		NotBefore:    now,
		NotAfter:     now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames: []string{"localhost", "kubernetes", "kubernetes.default",
			"kubernetes.default.svc", "kubernetes.default.svc.cluster.local"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("10.0.0.1")},
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, caCert, &srvKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	saKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	saPub, err := x509.MarshalPKIXPublicKey(&saKey.PublicKey)
	if err != nil {
		return err
	}
	tok := make([]byte, 32)
	if _, err := rand.Read(tok); err != nil {
		return err
	}
	token := hex.EncodeToString(tok)
	files := map[string][]byte{
		"ca.crt":        pemBytes("CERTIFICATE", caDER),
		"ca.key":        ecPEM(caKey),
		"apiserver.crt": pemBytes("CERTIFICATE", srvDER),
		"apiserver.key": ecPEM(srvKey),
		"sa.key":        pemBytes("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(saKey)),
		"sa.pub":        pemBytes("PUBLIC KEY", saPub),
		"admin.token":   []byte(token),
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(pki, name), data, 0o600); err != nil {
			return err
		}
	}
	kubeconfig := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: localcluster
  cluster:
    server: https://127.0.0.1:%d
    certificate-authority: %s
users:
- name: admin
  user:
    token: %s
contexts:
- name: localcluster
  context:
    cluster: localcluster
    user: admin
    namespace: default
current-context: localcluster
`, port, filepath.Join(pki, "ca.crt"), token)
	if err := os.WriteFile(filepath.Join(dir, "admin.kubeconfig"), []byte(kubeconfig), 0o600); err != nil {
		return err
	}
	// Written last: its presence means the set is complete.
	line := fmt.Sprintf("%s,admin,admin-uid,\"system:masters\"\n", token)
	return os.WriteFile(filepath.Join(pki, "tokens.csv"), []byte(line), 0o600)
}

func pemBytes(kind string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der})
}

func ecPEM(k *ecdsa.PrivateKey) []byte {
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		panic(err)
	}
	return pemBytes("EC PRIVATE KEY", der)
}
