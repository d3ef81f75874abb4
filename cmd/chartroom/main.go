// Command chartroom is a Helm chart registry and release toolchain in one binary.
package main

import "github.com/chartroom/chartroom/internal/cli"

func main() { cli.Main() }
