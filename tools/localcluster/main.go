// Command localcluster is the upstream Kubernetes control plane in one binary,
// built from Go modules so tests and the demo get a real kube-apiserver on a
// machine with no container engine.
//
// Each component keeps process-global state (flags, metrics registries,
// feature gates), so they run as separate processes of this binary:
//
//	localcluster apiserver --data-dir D --secure-port P --etcd-port E --etcd-peer-port Q
//	localcluster controller-manager [kube-controller-manager flags]
//	localcluster kubectl [kubectl flags]   (also when invoked through a link named kubectl)
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"k8s.io/component-base/cli"
	kubectlcmd "k8s.io/kubectl/pkg/cmd"
	apiserverapp "k8s.io/kubernetes/cmd/kube-apiserver/app"
	cmapp "k8s.io/kubernetes/cmd/kube-controller-manager/app"
)

func usage() int {
	fmt.Fprintln(os.Stderr, "usage: localcluster apiserver|controller-manager|kubectl [flags]")
	return 2
}

func main() {
	if strings.HasPrefix(filepath.Base(os.Args[0]), "kubectl") {
		os.Exit(cli.Run(kubectlcmd.NewDefaultKubectlCommand()))
	}
	if len(os.Args) < 2 {
		os.Exit(usage())
	}
	sub := os.Args[1]
	// cobra reads os.Args[1:]; drop the subcommand so each component sees only its flags.
	os.Args = append([]string{os.Args[0] + " " + sub}, os.Args[2:]...)
	switch sub {
	case "apiserver":
		args, err := prepareAPIServer(os.Args[1:])
		if err != nil {
			fmt.Fprintln(os.Stderr, "localcluster apiserver:", err)
			os.Exit(1)
		}
		cmd := apiserverapp.NewAPIServerCommand()
		cmd.SetArgs(args)
		os.Exit(cli.Run(cmd))
	case "controller-manager":
		os.Exit(cli.Run(cmapp.NewControllerManagerCommand()))
	case "kubectl":
		os.Exit(cli.Run(kubectlcmd.NewDefaultKubectlCommand()))
	default:
		os.Exit(usage())
	}
}
