// Command localnode is a Kubernetes node built from the same Go modules as
// the control plane: the kubelet, kube-proxy and the scheduler (which the
// control plane needs only once pods can run). A second binary because the
// kubelet's dependencies (cadvisor, the CRI client) register global flags the
// control-plane binary does not need.
//
//	localnode kubelet [kubelet flags]
//	localnode proxy [kube-proxy flags]
//	localnode scheduler [kube-scheduler flags]
package main

import (
	"context"
	"fmt"
	"os"

	"k8s.io/component-base/cli"
	proxyapp "k8s.io/kubernetes/cmd/kube-proxy/app"
	schedulerapp "k8s.io/kubernetes/cmd/kube-scheduler/app"
	kubeletapp "k8s.io/kubernetes/cmd/kubelet/app"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: localnode kubelet|proxy|scheduler [flags]")
		os.Exit(2)
	}
	sub := os.Args[1]
	// cobra reads os.Args[1:]; drop the subcommand so each component sees only its flags.
	os.Args = append([]string{os.Args[0] + " " + sub}, os.Args[2:]...)
	switch sub {
	case "kubelet":
		os.Exit(cli.Run(kubeletapp.NewKubeletCommand(context.Background())))
	case "proxy":
		os.Exit(cli.Run(proxyapp.NewProxyCommand()))
	case "scheduler":
		os.Exit(cli.Run(schedulerapp.NewSchedulerCommand()))
	default:
		fmt.Fprintln(os.Stderr, "usage: localnode kubelet|proxy|scheduler [flags]")
		os.Exit(2)
	}
}
