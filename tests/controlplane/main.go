// Command controlplane is one binary for the Kubernetes control plane used by
// oncall-operator's tests. It dispatches on the name it is started as, so the
// build makes symlinks etcd, kube-apiserver, kube-controller-manager and
// kubectl that all point here.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"go.etcd.io/etcd/server/v3/etcdmain"
	"k8s.io/component-base/cli"
	kubectlcmd "k8s.io/kubectl/pkg/cmd"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	apiserverapp "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanagerapp "k8s.io/kubernetes/cmd/kube-controller-manager/app"
)

func main() {
	name := filepath.Base(os.Args[0])
	args := os.Args
	// "controlplane etcd ..." works as well as a symlink named etcd.
	if name == "controlplane" && len(args) > 1 {
		name, args = args[1], append([]string{args[1]}, args[2:]...)
	}
	switch name {
	case "etcd":
		etcdmain.Main(args)
	case "kube-apiserver":
		cmd := apiserverapp.NewAPIServerCommand()
		cmd.SetArgs(args[1:])
		os.Exit(cli.Run(cmd))
	case "kube-controller-manager":
		cmd := controllermanagerapp.NewControllerManagerCommand()
		cmd.SetArgs(args[1:])
		os.Exit(cli.Run(cmd))
	case "kubectl":
		cmd := kubectlcmd.NewDefaultKubectlCommand()
		cmd.SetArgs(args[1:])
		if err := cli.RunNoErrOutput(cmd); err != nil {
			// kubectl's own main prints errors this way (exit codes included).
			cmdutil.CheckErr(err)
		}
	default:
		fmt.Fprintf(os.Stderr, "controlplane: unknown command %q (want etcd, kube-apiserver, kube-controller-manager or kubectl)\n", name)
		os.Exit(2)
	}
}
