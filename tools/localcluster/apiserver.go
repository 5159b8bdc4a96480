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
	// With a node, pods reach the API server through the kubernetes Service:
	// it must listen on (and advertise) an address the node's network routes.
	address := fs.String("address", "127.0.0.1", "address to serve on, advertise and write into the kubeconfig")
	serviceCIDR := fs.String("service-cidr", "10.0.0.0/24", "Service IP range; its first address is the kubernetes Service")
	if err := fs.Parse(argv); err != nil {
		return nil, err
	}
	ip := net.ParseIP(*address)
	_, svcNet, err := net.ParseCIDR(*serviceCIDR)
	if ip == nil || err != nil {
		return nil, fmt.Errorf("--address %q / --service-cidr %q: not an IP / a CIDR", *address, *serviceCIDR)
	}
	kubernetesIP := append(net.IP(nil), svcNet.IP.To4()...)
	kubernetesIP[3]++
	if *dataDir == "" {
		return nil, errors.New("--data-dir is required")
	}
	dir, err := filepath.Abs(*dataDir)
	if err != nil {
		return nil, err
	}
	pki := filepath.Join(dir, "pki")
	if err := writeCredentials(pki, dir, *address, *securePort, []net.IP{ip, kubernetesIP}); err != nil {
		return nil, fmt.Errorf("credentials: %w", err)
	}
	if err := startEtcd(filepath.Join(dir, "etcd"), *etcdPort, *etcdPeerPort); err != nil {
		return nil, fmt.Errorf("etcd: %w", err)
	}
	p := func(name string) string { return filepath.Join(pki, name) }
	args := []string{
		fmt.Sprintf("--etcd-servers=http://127.0.0.1:%d", *etcdPort),
		"--bind-address=" + *address,
		"--advertise-address=" + *address,
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
		"--service-cluster-ip-range=" + *serviceCIDR,
		"--allow-privileged=true",
		"--kubelet-client-certificate=" + p("kubelet-client.crt"),
		"--kubelet-client-key=" + p("kubelet-client.key"),
		"--kubelet-preferred-address-types=InternalIP",
		"--profiling=false",
	}
	if ip.IsLoopback() {
		// The lease reconciler would publish 127.0.0.1 as the kubernetes
		// Endpoints, which validation rejects (loopback) and logs forever.
		args = append(args, "--endpoint-reconciler-type=none")
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
// The API server's certificate names 127.0.0.1 and every address in ips; the
// kubelet-client certificate (system:masters) lets it reach kubelets that do
// not accept anonymous requests.
func writeCredentials(pki, dir, address string, port int, ips []net.IP) error {
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
		IPAddresses: append([]net.IP{net.ParseIP("127.0.0.1")}, ips...),
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, caCert, &srvKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	kcKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	kcTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(3),
		Subject:      pkix.Name{CommonName: "kube-apiserver-kubelet-client", Organization: []string{"system:masters"}},
		NotBefore:    now,
		NotAfter:     now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	kcDER, err := x509.CreateCertificate(rand.Reader, kcTmpl, caCert, &kcKey.PublicKey, caKey)
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
		"ca.crt":             pemBytes("CERTIFICATE", caDER),
		"ca.key":             ecPEM(caKey),
		"apiserver.crt":      pemBytes("CERTIFICATE", srvDER),
		"apiserver.key":      ecPEM(srvKey),
		"kubelet-client.crt": pemBytes("CERTIFICATE", kcDER),
		"kubelet-client.key": ecPEM(kcKey),
		"sa.key":             pemBytes("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(saKey)),
		"sa.pub":             pemBytes("PUBLIC KEY", saPub),
		"admin.token":        []byte(token),
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
    server: https://%s
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
`, net.JoinHostPort(address, fmt.Sprint(port)), filepath.Join(pki, "ca.crt"), token)
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
