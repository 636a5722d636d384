// compose-check loads a compose file with Compose's own loader (compose-go, the library `docker compose`
// is built on) and prints the project it makes as JSON: merge keys resolved, variables interpolated,
// defaults filled in, every service in one shape. A file Compose would refuse (schema, interpolation,
// a dependency on a service that does not exist, …) is refused here too, with Compose's own message on
// stderr and exit status 1. No Docker engine is involved.
//
//	compose-check docker-compose.yml
//
// Variables come from this process's environment only, not from a .env file, so what a check sees does
// not depend on whoever runs it.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/compose-spec/compose-go/v2/cli"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: compose-check COMPOSE_FILE")
		os.Exit(2)
	}
	options, err := cli.NewProjectOptions([]string{os.Args[1]}, cli.WithOsEnv)
	if err == nil {
		err = load(options)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func load(options *cli.ProjectOptions) error {
	project, err := options.LoadProject(context.Background())
	if err != nil {
		return err
	}
	model, err := project.MarshalJSON()
	if err != nil {
		return err
	}
	_, err = os.Stdout.Write(append(model, '\n'))
	return err
}
